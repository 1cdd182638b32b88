"""The study report: its computations (pepr.report) and the template on studies of every shape."""

from __future__ import annotations

import math
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import papermill
import pytest
import yaml

from pepr.core import paths
from pepr.execution import sweep
from pepr.reporting import comparisons, findings, report
from pepr.scoring import score, verdicts
from pepr.store import results

TEMPLATE = paths.NOTEBOOKS_DIR / "report.ipynb"
MODELS = ["test_resnet", "test_efficientnet", "test_vit", "test_convnext", "test_nfnet"]


def fake_rows(study: str, models=MODELS, seeds=(0,), fractions=(1.0,), dataset="synthetic",
              seed: int = 0) -> list[dict]:
    """Rows as a sweep writes them, with made-up but plausible values (no training)."""
    rng = np.random.default_rng(seed)
    rows = []
    for fraction in fractions:
        for run_seed in seeds:
            for index, model in enumerate(models):
                cell = {"study": study, "model": model, "dataset": dataset, "pretrained": False,
                        "data_fraction": fraction, "seed": run_seed, "img_size": 28, "epochs": 2,
                        "batch_size": 32, "optimizer": "adam", "lr": 5e-4}
                time_s = 10.0 * (index + 1) * fraction
                rows.append({**cell, "run_id": results.run_id(cell),
                             "setting": results.setting_label(dataset, False, fraction),
                             "threads": 1, "num_params": 10 ** (5 + index),
                             "num_params_trained": 10 ** (5 + index) // 2,
                             "test_acc": float(rng.uniform(0.4, 0.9)),
                             "test_balanced_acc": float(rng.uniform(0.4, 0.9)),
                             "test_auc": float(rng.uniform(0.5, 0.95)), "energy_kwh": time_s * 2.6e-5,
                             "energy_method": "tdp-estimate", "co2_g": time_s * 0.01,
                             "train_time_s": time_s, "peak_mem_gb": 1.2 + index / 10,
                             "run_mem_gb": 0.1 + index / 10, "mem_kind": "cpu-rss", "device": "cpu",
                             "hardware": "test CPU", "status": "ok"})
    return rows


def render(tmp_path: Path, study: str, **parameters) -> str:
    """Execute the template for ``study``; the text of every output, joined."""
    output = tmp_path / f"{study}.ipynb"
    papermill.execute_notebook(str(TEMPLATE), str(output), parameters={"study": study, **parameters},
                               progress_bar=False, kernel_name="python3", cwd=str(paths.REPO_ROOT))
    executed = nbformat.read(output, as_version=4)
    texts = []
    for cell in executed.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            texts.append(str(data.get("text/markdown", "")) + str(data.get("text/html", ""))
                         + str(out.get("text", "")))
    return "\n".join(texts)


# -- computations ------------------------------------------------------------------------------


def test_grid_sentence_counts_what_the_rows_hold():
    rows = pd.DataFrame(fake_rows("g", seeds=(0, 1), fractions=(0.5, 1.0)))
    rows.loc[0, "status"] = "failed"
    summary = report.grid_summary(results.typed(rows))
    assert (summary["runs"], summary["ok"], summary["failed"]) == (20, 19, 1)
    text = report.grid_sentence(summary)
    assert "20 runs" in text and "5 models" in text and "50% and 100%" in text
    assert "19 finished" in text and "1 failed" in text
    assert "2 seeds (0 and 1)" in text


def _baselines(*settings: str, rate: float = 0.6, n: int = 200) -> pd.DataFrame:
    return pd.DataFrame({"setting": list(settings), "baseline_acc": rate, "test_n": n,
                         "baseline_source": "made up"})


def test_ranking_flags_runs_that_do_not_beat_the_majority_class():
    runs = results.typed(pd.DataFrame(fake_rows("r")))
    scored = score.add_pepr(runs)
    table = report.ranked(scored, "test_acc", ["setting"], _baselines("synthetic"))
    assert table["rank"].tolist() == [1, 2, 3, 4, 5]
    assert table["test_acc"].is_monotonic_decreasing
    expected = [verdicts.above_baseline_p(a, 200, 0.6) < 0.05 for a in table["test_acc"]]
    assert table["above_baseline"].tolist() == expected
    labelled = report.ranked(scored, "test_acc", ["setting"])  # from the synthetic test labels
    assert labelled["baseline_source"].str.startswith("majority class of the").all()


def test_the_best_run_named_beats_its_baseline_and_the_rest_are_counted():
    rows = pd.DataFrame(fake_rows("g"))
    rows["test_acc"] = [0.61, 0.6, 0.9, 0.62, 0.6]
    rows["energy_kwh"] = [0.1, 0.1, 5.0, 0.2, 0.1]  # the guessers are cheap
    table = report.ranked(score.add_pepr(results.typed(rows)), "pepr_e", ["setting"],
                          _baselines("synthetic"))
    assert table.iloc[0]["above_baseline"] == False  # noqa: E712  a guesser tops PePR-E
    best, aside = report.best_above_baseline(table, "pepr_e", ["setting"])
    assert best["test_acc"].tolist() == [0.9] and aside == {"at_baseline": 4, "unknown": 0}


def test_seed_agreement_is_kendalls_tau_between_seed_rankings():
    rows = pd.DataFrame(fake_rows("s", seeds=(0, 1)))
    first = rows["seed"] == 0
    rows.loc[~first, "test_acc"] = rows.loc[first, "test_acc"].to_numpy()  # same ranking
    scored = score.add_pepr(results.typed(rows))
    agreement = report.seed_agreement(scored, "test_acc")
    assert agreement["kendall_tau"].tolist() == pytest.approx([1.0])
    assert "rankings: 1.00 in every setting (1 pair of seeds)" in report.seed_sentence(agreement)


def test_one_seed_and_few_models_are_said_in_words_not_nan():
    scored = score.add_pepr(results.typed(pd.DataFrame(fake_rows("o", models=MODELS[:2]))))
    for sentence in (report.seed_sentence(report.seed_agreement(scored, "pepr_e")),
                     report.small_vs_large(scored, "pepr_e", "num_params")):
        assert "nan" not in sentence.lower() and sentence
    assert comparisons.arm_comparisons(scored).empty


def test_fractions_are_compared_in_pairs_over_shared_models():
    rows = pd.DataFrame(fake_rows("f", fractions=(0.5, 1.0)))
    arms = comparisons.arm_comparisons(score.add_pepr(results.typed(rows)))
    assert arms["axis"].tolist() == ["training fraction"] and arms["models"].tolist() == [5]


def test_settings_that_share_a_dataset_and_fraction_with_the_release_are_paired():
    rows = results.typed(pd.DataFrame(fake_rows("p", dataset="pneumoniamnist", fractions=(0.1, 1.0))))
    pairs = comparisons.paper_pairs(rows)
    assert ("pneumoniamnist_f0.1", "pneumonia_small") in pairs and ("pneumoniamnist", "pneumonia") in pairs
    assert comparisons.paper_pairs(results.typed(pd.DataFrame(fake_rows("q")))) == []


def test_agreement_pairs_are_the_models_both_ran_and_feed_the_correlation():
    rows = results.typed(pd.DataFrame(fake_rows("p", dataset="pneumoniamnist", fractions=(0.1,), seeds=(0, 1))))
    ours = rows.groupby("model")["test_acc"].mean()
    paper = pd.DataFrame({"setting": "pneumonia_small", "model": MODELS[:-1],
                          "test_acc": [0.7, 0.5, 0.8, 0.6]})
    pairs = comparisons.agreement_pairs(rows, paper)
    (key, pair), = pairs.items()
    assert key == ("pneumoniamnist_f0.1", "pneumonia_small")
    assert sorted(pair["model"]) == sorted(MODELS[:-1])  # the last model the release did not run
    assert pair.set_index("model")["test_acc"].to_dict() == pytest.approx(ours.drop(MODELS[-1]).to_dict())
    agreement = comparisons.paper_agreement(rows, paper, pairs)
    assert agreement["models"].tolist() == [len(MODELS) - 1]
    assert agreement.equals(comparisons.paper_agreement(rows, paper))
    assert list(comparisons.agreement_panels(pairs)) == ["pneumoniamnist_f0.1 beside the release's pneumonia_small"]
    assert comparisons.agreement_panels({key: pair.iloc[:report.MIN_PAIRS - 1]}) == {}
    assert comparisons.agreement_pairs(rows, None) == {} and comparisons.paper_agreement(rows, None).empty


def test_rho_text_says_when_there_is_no_rho_or_no_interval():
    nan = float("nan")
    full = {"models": 20, "rho": 0.456, "ci_low": 0.1, "ci_high": 0.7}
    assert comparisons.rho_text(full) == "Spearman's rho 0.46 (95 % interval 0.10 to 0.70) over 20 models"
    tied = comparisons.rho_text({**full, "models": 6, "ci_low": nan, "ci_high": nan})
    assert tied.startswith("Spearman's rho 0.46 over 6 models (no bootstrap interval")
    assert comparisons.rho_text({**full, "rho": nan, "ci_low": nan}).startswith("no Spearman's rho over 20 models")
    agreement = pd.DataFrame([{**full, "our setting": "a", "release setting": "b"},
                              {**full, "models": report.MIN_PAIRS - 1, "our setting": "c",
                               "release setting": "d"}])
    assert comparisons.agreement_finding(agreement) == comparisons.rho_text(full) + " (a against b)"
    assert comparisons.agreement_finding(agreement.iloc[1:]).startswith("not yet enough")


def test_arms_and_seeds_captions_name_what_they_pair_and_rank_by():
    assert findings.arms_caption().startswith("Paired over the models trained in both arms: ")
    assert findings.arms_caption("both fractions").startswith("Paired over both fractions: ")
    assert "rankings by PePR-T (training time) of two seeds" in findings.seeds_caption("pepr_t")
    assert "rankings by test accuracy and PePR-E (energy) of two seeds" in findings.seeds_caption(["test_acc", "pepr_e"])
    seeds = findings.seeds_table(pd.DataFrame({"setting": ["s"], "kendall_tau": [0.5], "median_acc_sd": [0.01]}))
    assert set(findings.SEEDS_FORMATS) <= set(seeds.columns)


def test_template_parameters_are_declared():
    declared = set(papermill.inspect_notebook(str(TEMPLATE)))
    assert {"study", "results_dir", "studies_dir", "pool", "rank_by", "title"} <= declared


# -- the template on studies of every shape ------------------------------------------------------


@pytest.mark.slow
def test_template_on_one_run(tmp_path: Path):
    results.append_run(fake_rows("single", models=MODELS[:1])[0], tmp_path)
    text = render(tmp_path, "single", results_dir=str(tmp_path), studies_dir=str(tmp_path))
    assert "1 run" in text and "test_resnet" in text
    assert "nan" not in text.replace("nanmean", "").lower().split("plotly")[0]
    assert "pneumoniamnist" not in text and "pilot" not in text  # nothing of another study


@pytest.mark.slow
def test_template_on_seeds_and_fractions(tmp_path: Path):
    for row in fake_rows("grid", seeds=(0, 1), fractions=(0.5, 1.0)):
        results.append_run(row, tmp_path)
    text = render(tmp_path, "grid", results_dir=str(tmp_path), studies_dir=str(tmp_path),
                  rank_by="pepr_t")
    assert "20 runs" in text and "Kendall" in text and "training fraction" in text
    assert "by test accuracy" in text and "by PePR-T (training time)" in text  # both rankings of the seeds


@pytest.mark.slow
def test_template_on_a_sweep_of_an_image_folder_with_four_classes(tmp_path: Path, monkeypatch):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in (("train", 6), ("val", 3), ("test", 4)):
        for k, name in enumerate(("alpha", "beta", "gamma", "delta")):
            folder = tmp_path / "imgs" / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = (rng.random((16, 16)) * 60 + 60 * k).astype("uint8")
                Image.fromarray(pixels, "L").save(folder / f"{i}.png")
    monkeypatch.setenv("PEPR_DATASETS_FILE", str(tmp_path / "datasets.yml"))
    study_path = tmp_path / "studies" / "four.yml"
    study_path.parent.mkdir()
    study_path.write_text(yaml.safe_dump({
        "study": "four", "models": ["test_resnet", "test_efficientnet", "test_convnext"],
        "datasets": [str(tmp_path / "imgs")], "epochs": 1, "img_size": 32,
        "notes": "A four-class folder made by the test.",
    }))
    summary = sweep.run_sweep(study_path, results_dir=tmp_path / "results",
                              outputs_dir=tmp_path / "outputs", progress=False)
    assert summary.ok == 3, summary
    text = render(tmp_path, "four", results_dir=str(tmp_path / "results"),
                  studies_dir=str(tmp_path / "studies"))
    assert "3 runs" in text and "3 models" in text and "four-class folder made by the test" in text
    for model in ("test_resnet", "test_efficientnet", "test_convnext"):
        assert model in text
    assert "majority class, by a one-sided exact binomial test" in text
    assert "beat 0.250 (16 test images)" in text  # 4 balanced test classes of 4 images
    assert "pilot" not in text and "pneumoniamnist" not in text


def test_progress_counts_planned_and_finished_runs_per_setting():
    rows = fake_rows("pr", fractions=(0.5, 1.0))
    rows[0]["status"] = "failed"
    planned = rows + fake_rows("pr", fractions=(0.25,))
    table = report.progress_by_setting(results.typed(pd.DataFrame(rows[:-1])), planned)
    by_setting = table.set_index("setting")
    assert by_setting.loc["synthetic_f0.5", ["planned", "ok", "failed"]].tolist() == [5, 4, 1]
    assert by_setting.loc["synthetic", ["planned", "ok"]].tolist() == [5, 4]
    assert by_setting.loc["synthetic_f0.25", ["planned", "ok"]].tolist() == [5, 0]


def test_small_against_large_per_setting_splits_at_the_median():
    models = [f"m{i}" for i in range(8)]
    rows = pd.DataFrame(fake_rows("sl", models=models))
    rows["num_params"] = [10 ** (5 + i / 2) for i in range(8)]
    rows["test_acc"] = [0.9, 0.85, 0.8, 0.75, 0.5, 0.45, 0.4, 0.35]  # the small half is better
    table = report.small_large_by_setting(results.typed(rows), "test_acc", "num_params")
    row = table.iloc[0]
    assert row["models"] == 8 and row["top-5 small"] == 4
    assert row["median acc. small"] > row["median acc. large"]
    assert report.small_large_by_setting(results.typed(rows.head(5)), "test_acc", "num_params").empty


def test_durations_and_data_are_said_in_readable_words():
    assert report.duration_text(42) == "42 seconds"
    assert report.duration_text(600) == "10.0 minutes"
    assert report.duration_text(5 * 3600) == "5.0 hours"
    rows = results.typed(pd.DataFrame(fake_rows("d")).assign(data_summary="synthetic: 2 classes"))
    said = report.data_sentence(rows)
    assert "`synthetic`: 2 classes" in said and "synthetic: synthetic" not in said  # named once
    assert "predate" in report.data_sentence(results.typed(pd.DataFrame(fake_rows("d"))))


# -- how the report shows it ----------------------------------------------------------------------


def test_labels_are_unique_per_study_and_valid_names():
    assert findings.label("tbl", "cpu-rerun", "ranking-breastmnist_f0.1") == "tbl-rerun-cpu-rerun-ranking-breastmnist-f0-1"
    assert findings.label("fig", "pilot", "size") != findings.label("fig", "cpu-rerun", "size")


def test_ranking_tables_one_per_pool_with_short_headers():
    rows = pd.DataFrame(fake_rows("t", fractions=(0.5, 1.0)))
    scored = score.add_pepr(results.typed(rows))
    baselines = _baselines("synthetic", "synthetic_f0.5")
    table = report.ranked(scored, "pepr_e", ["setting"], baselines)
    tables = findings.ranking_tables(table, "pepr_e", ["setting"], "num_params")
    assert [title for title, _ in tables] == ["synthetic", "synthetic_f0.5"]
    for _, shown in tables:
        assert list(shown.columns) == ["rank", "model", "acc.", "acc. 95 %", "bal. acc.",
                                       "> maj.", "PePR-E", "PePR-T", "PePR-M", "params (M)",
                                       "train (s)"]
        assert shown["rank"].tolist() == [1, 2, 3, 4, 5] and len(shown) == 5
        assert set(shown["> maj."]) <= {"yes", "no"}
    pooled = report.ranked(scored, "pepr_c", [], baselines)
    ((title, shown),) = findings.ranking_tables(pooled, "pepr_c", [], "num_params")
    assert title == "all runs" and "setting" in shown.columns and "PePR-C" in shown.columns and len(shown) == 10


def test_runs_without_ok_are_one_line_per_reason_naming_every_model():
    rows = fake_rows("n")
    for row in rows[:3]:
        row.update(status="skipped", error="needs inputs of at least 96 px")
    rows[3].update(status="failed", error=None)
    table = findings.not_ok_table(results.typed(pd.DataFrame(rows)))
    assert table["status"].tolist() == ["failed", "skipped"]
    skipped = table.set_index("status").loc["skipped"]
    assert skipped["runs"] == 3 and skipped["models"] == ", ".join(sorted(MODELS[:3]))
    assert table.set_index("status").loc["failed", "reason"] == "(no reason given)"
    assert findings.not_ok_table(results.typed(pd.DataFrame(fake_rows("n")))).empty


def test_key_findings_say_what_ran_and_which_run_is_best():
    rows = pd.DataFrame(fake_rows("k"))
    scored = score.add_pepr(results.typed(rows))
    table = report.ranked(scored, "test_acc", ["setting"], _baselines("synthetic", rate=0.3))
    summary = report.grid_summary(scored, planned=8)
    items = findings.key_findings(summary, table, "test_acc", ["setting"], None, report.totals(scored), pd.DataFrame())
    best = table.loc[table["test_acc"].idxmax(), "model"]
    assert items[0] == "5 of the 8 planned runs finished."
    assert f"`{best}` in `synthetic`" in items[1] and "beat their majority-class baseline" in items[1]
    assert f"{int(table['above_baseline'].sum())} of 5 runs beat" in items[2]
    box = findings.findings_box(items)
    assert box.startswith(":::{admonition} Key findings\n") and box.count("\n- ") == len(items)


def test_arms_table_puts_the_interval_beside_the_difference():
    rows = pd.DataFrame(fake_rows("f", fractions=(0.5, 1.0)))
    arms = comparisons.arm_comparisons(score.add_pepr(results.typed(rows)))
    shown = findings.arms_table(arms)
    assert set(findings.ARMS_FORMATS) <= set(shown.columns)
    assert [findings.p_text(p) for p in (0.0004, 0.0421, float("nan"))] == ["< 0.001", "0.042", "\u2013"]
    assert shown["arms"].tolist() == ["training fraction: 1.0 vs 0.5"]
    low, high = arms.loc[0, ["mean_diff_ci_low", "mean_diff_ci_high"]]
    assert shown.loc[0, "mean diff. (95 % CI)"].endswith(f"({low:+.3f} to {high:+.3f})")


def test_curve_models_keeps_all_up_to_the_limit_then_spreads_over_log_size():
    import numpy as np
    import pandas as pd

    few = pd.DataFrame({"model": ["b", "a", "c"], "num_params": [2e6, 1e6, 3e6]})
    assert findings.curve_models(few, "num_params", limit=5) == ["a", "b", "c"]
    sizes = np.geomspace(1e6, 1e8, 100)
    many = pd.DataFrame({"model": [f"m{i:03d}" for i in range(100)], "num_params": sizes})
    shown = findings.curve_models(many, "num_params", limit=5)
    assert len(shown) == 5 and shown[0] == "m000" and shown[-1] == "m099"
    assert shown == sorted(shown)  # smallest first
    assert abs(np.log10(many.set_index("model").loc[shown[2], "num_params"]) - 7.0) < 0.02  # the middle of the log range


def test_curves_sentence_says_when_it_shows_a_sample():
    assert "One panel per model (3 models)" in findings.curves_sentence(["a", "b", "c"], 3)
    assert findings.curves_sentence(["a", "b"], 120).startswith("2 of the 120 models")


def test_curve_models_leaves_out_models_without_a_size():
    import pandas as pd

    runs = pd.DataFrame({"model": ["a", "b", "c", "d"], "num_params": [1e6, float("nan"), 0.0, 4e6]})
    assert findings.curve_models(runs, "num_params", limit=1) == ["a"]
    assert findings.curve_models(runs, "num_params") == ["a", "d"]


def _costs(slow_model: str = "m3") -> pd.DataFrame:
    """Two settings of six models whose time grows with FLOPs and memory with parameters,
    except ``slow_model``, which takes four times its share of time in both."""
    rows = []
    for setting, scale in (("a", 1.0), ("b", 10.0)):
        for i in range(6):
            model = f"m{i}"
            flops, params = 1e7 * 2 ** i, 1e6 * 3 ** i
            time = scale * flops / 1e6 * (4.0 if model == slow_model else 1.0)
            rows.append({"setting": setting, "model": model, "flops_per_image": flops,
                         "train_time_s": time, "num_params_trained": params,
                         "run_mem_gb": params / 1e7})
    return pd.DataFrame(rows)


def test_measurement_checks_name_a_model_far_above_its_fit_in_every_setting():
    checks = comparisons.measurement_checks(_costs()).set_index("setting")
    assert checks.loc["a", "rho_memory_params"] == pytest.approx(1.0)
    assert checks.loc["a", "above_time_flops"].startswith("m3 (")
    assert checks.loc["b", "above_memory_params"] == ""
    counts = comparisons.outlier_settings(_costs())
    assert counts.to_dict() == {"m3": 2}
    assert comparisons.repeat_outliers_sentence(counts) == "m3 in 2 settings"


def test_measurement_checks_need_enough_runs_for_a_rho():
    few = _costs().groupby("setting").head(report.MIN_PAIRS - 1)
    checks = comparisons.measurement_checks(few)
    assert checks["rho_time_flops"].isna().all() and (checks["above_time_flops"] == "").all()
    assert comparisons.repeat_outliers_sentence(comparisons.outlier_settings(few)).startswith("no model")


def test_value_range_says_once_what_reads_the_same():
    assert report.value_range([0.921, 0.944]) == "from 0.92 to 0.94"
    assert report.value_range([0.941, 0.944, math.nan]) == "0.94 in every setting"
    assert report.value_range([]) == "not yet computed"


def test_seed_means_count_a_model_once_in_the_small_against_large_split():
    models = [f"m{i}" for i in range(8)]
    rows = pd.DataFrame(fake_rows("sm", models=models))
    rows["num_params"] = [10 ** (5 + i / 2) for i in range(8)]
    rows["test_acc"] = [0.35, 0.4, 0.45, 0.5, 0.75, 0.8, 0.85, 0.9]  # the large half is better
    smallest = pd.DataFrame(fake_rows("sm", models=models[:1], seeds=(1, 2))).assign(
        num_params=rows["num_params"].iloc[0], test_acc=0.35)
    once = results.typed(rows)
    thrice = results.typed(pd.concat([rows, smallest], ignore_index=True))
    means = report.seed_means(thrice)
    assert len(means) == 8 and means.set_index("model").loc["m0", "test_acc"] == pytest.approx(0.35)
    for frame in (once, thrice):  # m0's extra seeds neither take top places nor move the medians
        table = report.small_large_by_setting(frame, "test_acc", "num_params")
        assert table[["top-5 small", "median acc. small"]].iloc[0].tolist() == pytest.approx([1, 0.425])
    judged = verdicts.add_verdicts(thrice, _baselines("synthetic", rate=0.1, n=1000))
    assert (report.small_large_split(judged, "test_acc", "num_params")["share of all runs small"]
            == pytest.approx(0.5))


def test_seed_agreements_rank_by_each_score_and_say_both_ranges():
    rows = pd.DataFrame(fake_rows("sa", seeds=(0, 1)))
    first = rows["seed"] == 0
    accuracies = np.linspace(0.5, 0.9, len(MODELS))
    rows.loc[first, "test_acc"] = accuracies
    rows.loc[~first, "test_acc"] = accuracies[::-1]  # the ranking by accuracy reversed
    scored = score.add_pepr(results.typed(rows))
    agreement = report.seed_agreements(scored, ["pepr_e", "test_acc"])
    assert agreement["ranked by"].tolist() == ["PePR-E (energy)", "test accuracy"]
    by_acc = agreement.set_index("ranked by").loc["test accuracy", "kendall_tau"]
    assert by_acc == pytest.approx(-1.0)
    sentence = report.seed_sentence(agreement)
    assert "by test accuracy -1.00 in every setting" in sentence and "(1 pair of seeds)" in sentence
    assert report.seed_agreements(scored, []).empty


def test_repeated_runs_pair_runs_of_the_same_protocol_across_studies():
    earlier = results.typed(pd.DataFrame(fake_rows("then", seed=1)).assign(hardware="old CPU"))
    now = pd.DataFrame(fake_rows("now", models=MODELS[1:], seed=2))
    now.loc[now["model"] == MODELS[-1], "epochs"] = 3  # another protocol: not a repeat
    now["train_time_s"] = now["model"].map(earlier.set_index("model")["train_time_s"]) / 2
    pairs = comparisons.repeated_runs(results.typed(now), earlier)
    assert pairs["model"].tolist() == MODELS[1:-1]  # MODELS[0] was not run again
    assert pairs["time_ratio"].tolist() == pytest.approx([0.5] * 3)
    truth = earlier.set_index("model")["test_acc"]
    assert pairs["acc_change"].tolist() == pytest.approx(
        (now.set_index("model")["test_acc"] - truth).loc[MODELS[1:-1]].tolist())
    sentence = comparisons.repeated_sentence(pairs, "the pilot")
    assert sentence.startswith("3 runs of the pilot were trained again") and "0.50 times" in sentence
    assert "old CPU then, test CPU now" in sentence
    assert "hardware_now" not in comparisons.repeated_table(pairs)
    assert set(comparisons.REPEATED_FORMATS) <= set(comparisons.repeated_table(pairs).columns)
    assert comparisons.repeated_sentence(pairs.iloc[:0], "the pilot") == "None of the pilot's runs has been trained again yet."
    finding = comparisons.repeated_finding(pairs, 5)
    assert finding.startswith("3 of 5;") and "0.50 times" in finding and "so far" not in finding
    assert comparisons.repeated_finding(pairs.iloc[:0], 5) == "not yet"
    assert comparisons.repeated_finding(pairs, 3).startswith("3 of 3;")  # all repeated: no "so far"


def test_models_in_every_setting_need_a_row_in_each():
    rows = results.typed(pd.DataFrame(fake_rows("e", fractions=(0.1, 1.0))))
    settings = sorted(rows["setting"].unique())
    assert report.models_in_every_setting(rows, settings) == sorted(MODELS)
    partial = rows[~((rows["model"] == MODELS[0]) & (rows["data_fraction"] == 0.1))]
    assert report.models_in_every_setting(partial, settings) == sorted(MODELS[1:])
    assert report.models_in_every_setting(partial, ["synthetic"]) == sorted(MODELS)  # the 100 % one
