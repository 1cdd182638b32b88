"""Tests for pepr.analysis: joins by name, the release's positional attachment, paired statistics,
rank correlation, the paper's tables and the robustness helpers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pepr.core.errors import BadParameterError
from pepr.scoring import analysis, joins, robustness, score


def tiny_runs() -> pd.DataFrame:
    """Three models in two settings; energy scales with size, accuracy does not."""
    return pd.DataFrame({
        "model": ["alpha", "beta", "gamma"] * 2,
        "setting": ["s1"] * 3 + ["s2"] * 3,
        "dataset": ["d"] * 6,
        "num_params": [1e6, 5e6, 50e6] * 2,
        "test_acc": [0.80, 0.82, 0.85, 0.60, 0.70, 0.65],
        "energy_kwh": [1.0, 2.0, 5.0, 0.1, 0.3, 0.2],
        "co2_g": [10.0, 20.0, 50.0, 1.0, 3.0, 2.0],
        "train_time_s": [10.0, 20.0, 40.0, 1.0, 2.0, 3.0],
        "peak_mem_gb": [1.0, 2.0, 3.0, 1.0, 2.0, 3.0],
    })


def test_publications_per_capita_sums_countries_before_dividing():
    table = pd.DataFrame({"Region_updated": ["A", "A", "B"], "num_papers": [10, 0, 5], "pop": [1e6, 9e6, 1e6]})
    out = joins.publications_per_capita({"2013": table})
    rates = out.set_index("region")["papers_per_million"]
    assert rates["A"] == pytest.approx(1.0)  # 10 papers / 10 M people, not the mean of 10 and 0
    assert rates["B"] == pytest.approx(5.0)
    with pytest.raises(BadParameterError):
        joins.publications_per_capita({"x": table.drop(columns="pop")})


def test_attach_by_name_ignores_row_order_and_rejects_unknown_models():
    runs = pd.DataFrame({"model": ["b", "a"], "test_acc": [0.1, 0.2]})
    models = pd.DataFrame({"model": ["a", "b"], "type": ["CNN", "Other"], "efficient": [1, 0]})
    out = joins.attach_by_name(runs, models)
    assert out.set_index("model").loc["b", "efficient"] == 0
    assert out.set_index("model").loc["a", "type"] == "CNN"
    with pytest.raises(BadParameterError):
        joins.attach_by_name(pd.DataFrame({"model": ["zeta"]}), models)


def test_positional_attachment_reproduces_the_mismatch():
    # all_results groups alphabetically (a, b, c); model_names lists by size (c, a, b)
    raw = pd.DataFrame({"model": ["a", "b", "c"], "num_param": [2, 3, 1], "dataset": ["s"] * 3})
    names = pd.DataFrame({"model": ["c", "a", "b"], "efficient": [1, 0, 0]})
    out = joins.positional_attachment(raw, names)
    assert list(out["model"]) == ["a", "b", "c"]
    assert list(out["attached_from"]) == ["c", "a", "b"]
    # a drew c's flag (1 instead of 0), c drew b's (0 instead of 1), b drew a's (0, correct)
    assert list(out["wrong"]) == [True, False, True]


def test_positional_attachment_is_clean_when_orders_agree():
    raw = pd.DataFrame({"model": ["a", "b"], "num_param": [1, 2], "dataset": ["s", "s"]})
    names = pd.DataFrame({"model": ["a", "b"], "efficient": [1, 0]})
    assert not joins.positional_attachment(raw, names)["wrong"].any()


def test_positional_pairing_flags_rows_with_different_models():
    raw = pd.DataFrame({"model": ["a", "b", "b", "a"], "dataset": ["x", "x", "y", "y"]})
    assert joins.positional_pairing(raw, "x", "y")["same_model"].sum() == 0


def test_paired_comparison_pairs_by_name_and_reports_effect_sizes():
    rng = np.random.default_rng(1)
    names = [f"m{i}" for i in range(30)]
    base = pd.Series(rng.uniform(0.5, 0.9, 30), index=names)
    shifted = (base + 0.05 + rng.normal(0, 0.01, 30)).iloc[::-1]  # reversed order: pairing must use names
    out = analysis.paired_comparison(shifted, base, n_resamples=999)
    assert out["n_pairs"] == 30
    assert out["mean_diff"] == pytest.approx(0.05, abs=0.01)
    assert out["mean_diff_ci_low"] < out["mean_diff"] < out["mean_diff_ci_high"]
    assert out["cohen_dz"] > 2  # a consistent shift: large standardised effect
    assert out["p_ttest_rel"] < out["p_ttest_ind"]  # pairing removes the between-model spread
    assert out["share_a_better"] == 1.0
    with pytest.raises(BadParameterError):
        analysis.paired_comparison(base.iloc[:2], base.iloc[:2])


def test_spearman_ci_matches_scipy_and_brackets_rho():
    from scipy import stats

    rng = np.random.default_rng(0)
    x = rng.normal(size=60)
    y = x + rng.normal(scale=0.5, size=60)
    out = analysis.spearman_ci(x, y, n_resamples=999)
    assert out["rho"] == pytest.approx(stats.spearmanr(x, y).statistic)
    assert out["ci_low"] < out["rho"] < out["ci_high"] <= 1
    assert analysis._spearman_statistic(x, y) == pytest.approx(out["rho"])


def test_exact_and_substring_imagenet_joins_differ_where_names_nest():
    imagenet = pd.DataFrame({"model": ["seresnet18.a1", "resnet18.tv", "other.x"],
                             "top1": [80.0, 70.0, 60.0], "top5": [95.0, 90.0, 85.0]})
    names = pd.DataFrame({"model": ["resnet18", "missing"], "imagenet_name": ["resnet18.tv", None], "how": ["default tag", "unknown"]})
    exact = joins.join_imagenet_exact(names, imagenet)
    substring = joins.join_imagenet_substring(["resnet18", "missing"], imagenet)
    assert exact.set_index("model").loc["resnet18", "top1"] == 70.0
    assert substring.set_index("model").loc["resnet18", "matched"] == "seresnet18.a1"  # first, best-sorted hit
    joined = joins.compare_imagenet_joins(exact, substring).set_index("model")
    assert joined.loc["resnet18", "differs"]
    assert not joined.loc["missing", "differs"]  # neither join found it


def test_top_k_with_best_ends_each_group_with_the_most_accurate():
    scored = score.add_pepr(tiny_runs())
    table = analysis.top_k_with_best(scored, "pepr_e", k=2)
    s1 = table[table["setting"] == "s1"]
    assert list(s1["row"]) == ["1", "2", "most accurate"]
    assert s1["model"].iloc[0] == "alpha"  # cheapest with near-top accuracy
    assert s1["model"].iloc[-1] == "gamma"  # most accurate
    assert list(score.top_k(scored, "pepr_e", k=2)["model"]) == list(table[table["row"] != "most accurate"]["model"])


def test_setting_summary_one_row_per_setting():
    summary = analysis.setting_summary(score.add_pepr(tiny_runs()))
    assert list(summary["setting"]) == ["s1", "s2"]
    assert summary.set_index("setting").loc["s2", "most accurate"] == "beta"


def test_setting_summary_names_the_best_above_baseline_beside_a_guesser():
    runs = tiny_runs().assign(above_baseline=pd.array([False, True, True, pd.NA, pd.NA, pd.NA],
                                                      dtype="boolean"))
    summary = analysis.setting_summary(score.add_pepr(runs)).set_index("setting")
    assert summary.loc["s1", "best by pepr_e"] == "alpha"  # the cheapest, a guesser here
    assert not summary.loc["s1", "beats baseline"]
    assert summary.loc["s1", "best above baseline"] == "beta"  # the best of those that beat it
    assert pd.isna(summary.loc["s2", "beats baseline"])  # baseline unknown: no verdict
    assert pd.isna(summary.loc["s2", "best above baseline"])
    assert "best above baseline" not in analysis.setting_summary(score.add_pepr(tiny_runs()))


def test_ranking_variants_and_overlap_with_baseline():
    runs = tiny_runs()
    variants = {"E": {"resource": "energy_kwh", "pool": ["setting"]},
                "M": {"resource": "peak_mem_gb", "pool": ["setting"]},
                "E all": {"resource": "energy_kwh", "pool": []}}
    tops = robustness.ranking_variants(runs, variants, k=1)
    overlap = robustness.overlap_with_baseline(tops, "E").set_index(["variant", "setting"])
    assert overlap.loc[("E", "s1"), "kept"] == 1
    assert overlap["same_winner"].loc["E"].all()
    agreement = robustness.rank_agreement(runs, variants, "E")
    assert agreement[agreement["variant"] == "E"]["kendall_tau"].eq(1).all()


def test_one_intensity_per_setting_cancels_but_pooled_intensities_do_not():
    runs = tiny_runs()
    varied = robustness.rescale_co2(runs, {"s1": 100.0, "s2": 900.0}, pue=1.4)
    within = score.add_pepr(varied)
    assert np.allclose(within["C_n"], within["E_n"])  # constant factor cancels within a setting
    pooled_c = score.add_pepr(varied, pool=[])["C_n"]
    pooled_e = score.add_pepr(varied, pool=[])["E_n"]
    assert not np.allclose(pooled_c, pooled_e)  # different intensities do not cancel across settings
    with pytest.raises(BadParameterError):
        robustness.rescale_co2(runs, {"s1": 100.0})
    with pytest.raises(BadParameterError):
        robustness.rescale_co2(runs, {"s1": 1.0, "s2": 1.0}, pue=0)


def test_small_large_sweep_counts_and_shares():
    scored = score.add_pepr(tiny_runs())
    sweep = robustness.small_large_sweep(scored, [2e6, 1e7, 1e9], k=1).set_index("threshold")
    assert list(sweep["small_models"]) == [1, 2, 3]
    assert sweep.loc[1e9, "share of top-k small"] == 1.0
    assert sweep.loc[2e6, "share of all runs small"] == pytest.approx(1 / 3)


def test_resource_variants_cover_all_resources_and_pools():
    variants = robustness.resource_variants()
    assert {spec["resource"] for spec in variants.values()} == set(score.RESOURCES.values())
    assert variants["PePR-E (all settings)"]["pool"] == []


def test_implied_power_constant_for_a_time_proportional_estimate() -> None:
    runs = pd.DataFrame({"train_time_s": [100.0, 360.0], "energy_kwh": [0.0025, 0.009]})
    assert robustness.implied_power_w(runs).tolist() == pytest.approx([90.0, 90.0])


def test_pair_with_paper_joins_by_name() -> None:
    ours = pd.DataFrame({"model": ["b", "a"], "test_acc": [0.8, 0.7]})
    paper = pd.DataFrame({"model": ["a", "b", "a"], "setting": ["s", "s", "t"], "test_acc": [0.9, 0.6, 0.1]})
    paired = robustness.pair_with_paper(ours, paper, "s")
    assert paired.set_index("model")["test_acc_paper"].to_dict() == {"a": 0.9, "b": 0.6}
    with pytest.raises(BadParameterError):
        robustness.pair_with_paper(ours, paper, "nope")


def test_paper_comparisons_pair_settings_and_average_multi_setting_arms():
    rng = np.random.default_rng(2)
    models = [f"m{i}" for i in range(12)]
    settings = {s for arms in analysis.PAPER_COMPARISONS.values() for arm in arms for s in arm}
    base = pd.Series(rng.uniform(0.5, 0.8, len(models)), index=models)
    gain = {"derma_pt": 0.1, "lidc": 0.1, "pneumonia": 0.1}  # pretrained / full data: +0.1
    runs = pd.DataFrame([{"model": m, "setting": s, "test_acc": base[m] + gain.get(s, 0.0) + rng.normal(0, 0.005)}
                         for m in models for s in sorted(settings)])
    arms = analysis.comparison_arms(runs)
    full, tenth = arms["100 % vs 10 % data (mean of 3 datasets)"]
    wide = runs.pivot(index="model", columns="setting", values="test_acc")
    assert full.to_numpy() == pytest.approx(wide[["derma_pt", "lidc", "pneumonia"]].mean(axis=1).to_numpy())
    tests = analysis.paper_comparisons(runs)
    assert list(tests["comparison"]) == list(analysis.PAPER_COMPARISONS)
    assert tests["n_pairs"].eq(len(models)).all()
    assert tests["mean_diff"].to_numpy() == pytest.approx([0.1, 0.1], abs=0.01)
    expected = analysis.paired_comparison(wide["derma_pt"], wide["derma"])
    assert tests.iloc[0]["p_wilcoxon"] == pytest.approx(expected["p_wilcoxon"])


def test_size_correlations_ignore_a_monotone_transform_of_size():
    rng = np.random.default_rng(3)
    size = np.geomspace(1e6, 1e8, 40)
    per_model = pd.DataFrame({"num_params": size, "test_acc": np.log(size) + rng.normal(0, 2, 40),
                              "pepr_e": -np.log(size) + rng.normal(0, 0.5, 40)})
    table = analysis.size_correlations(per_model).set_index("pair")
    assert table.loc["parameters vs pepr_e", "rho"] < -0.8
    logged = analysis.spearman_ci(np.log(per_model["num_params"]), per_model["test_acc"])
    assert table.loc["parameters vs test_acc", "rho"] == pytest.approx(logged["rho"])


def test_imagenet_pepr_m_leaves_unmatched_models_unscored_unless_filled():
    runs = tiny_runs().assign(setting=lambda d: np.where(d.index < 3, "derma_pt", "other"))
    joined = pd.DataFrame({"model": ["alpha", "beta", "gamma"], "top1": [70.0, 80.0, np.nan]})
    exact = joins.imagenet_pepr_m(runs, joined).set_index("model")
    assert len(exact) == 3 and np.isnan(exact.loc["gamma", "pepr_m"])
    assert exact.loc["beta", "imagenet_top1"] == pytest.approx(0.8)
    release = joins.imagenet_pepr_m(runs, joined, missing_top1=0).set_index("model")
    assert release.loc["gamma", "imagenet_top1"] == 0 and release.loc["gamma", "pepr_m"] == 0


def test_concurrent_runs_counts_overlapping_training_spans():
    runs = pd.DataFrame({"started_at": ["2026-01-01T00:00:00+00:00", "2026-01-01T00:10:00+00:00",
                                        "2026-01-01T00:12:00+00:00", "2026-01-01T00:20:00+00:00"],
                         "train_time_s": [300.0, 600.0, 60.0, 60.0]})
    assert robustness.concurrent_runs(runs).tolist() == [1, 2, 2, 1]


# ---------------------------------------------------------------------------------------------
# Names through the zoo, and the exact ImageNet join on the release's tables
# ---------------------------------------------------------------------------------------------

def test_imagenet_names_resolve_through_the_zoo_and_take_its_pretrained_tag():
    asked = []

    def tag(name: str) -> str:
        asked.append(name)
        return "other_tag"

    names = joins.imagenet_names(["gluon_xception65", "gluon_resnet34_v1b", "dla34", "efficientnet_b0"],
                                    default_tag=tag)
    names = names.set_index("model")
    assert names.loc["gluon_xception65", "imagenet_name"] == "xception65.tf_in1k"  # the zoo's own rename
    assert names.loc["gluon_resnet34_v1b", "imagenet_name"] == "resnet34.gluon_in1k"  # timm's alias, via the zoo
    assert names.loc["dla34", "imagenet_name"] == "dla34.in1k"  # the zoo's pretrained_tag column
    assert names.loc["efficientnet_b0", "imagenet_name"] == "efficientnet_b0.ra_in1k"
    assert asked == []  # the zoo's models need nothing from timm


def test_imagenet_names_outside_the_zoo_ask_for_the_default_tag():
    pytest.importorskip("timm")  # a name outside the zoo is resolved by timm
    asked = []

    def tag(name: str) -> str:
        asked.append(name)
        return "in1k"

    from pepr.training import nets

    names = joins.imagenet_names(["test_resnet", "no_such_model_anywhere"], default_tag=tag,
                                    resolve=nets.resolve_model_name)
    assert joins.imagenet_names(["test_resnet"]).loc[0, "how"] == "not in the zoo (resolving it needs timm)"
    names = names.set_index("model")
    assert names.loc["test_resnet", "imagenet_name"] == "test_resnet.in1k"
    assert names.loc["test_resnet", "how"] == "timm name outside the zoo; default pretrained tag"
    assert asked == ["test_resnet"]
    assert pd.isna(names.loc["no_such_model_anywhere", "imagenet_name"])
    assert names.loc["no_such_model_anywhere", "how"] == "unknown model"


def _timm_only_names(models: pd.Series) -> pd.DataFrame:
    """The resolver the chapters used before: timm's deprecation table, else the name, with
    timm's default tag; no zoo (so no rename that timm itself does not know)."""
    from timm.models import get_deprecated_models, get_pretrained_cfg

    deprecated = get_deprecated_models()
    rows = []
    for model in models:
        cfg = get_pretrained_cfg(deprecated.get(model) or model)
        rows.append({"model": model, "imagenet_name": None if cfg is None else f"{cfg.architecture}.{cfg.tag}"})
    return pd.DataFrame(rows)


def test_exact_imagenet_join_finds_gluon_xception65_through_the_zoo(data_dir):
    from pepr.data import paper, zoo

    models = paper.read_paper_table("model_names.csv").drop_duplicates("model")["model"]
    imagenet = paper.read_paper_table("results-imagenet.csv")
    exact = joins.join_imagenet_exact(joins.imagenet_names(models), imagenet).set_index("model")

    renamed = zoo.EXTRA_RENAMES["gluon_xception65"]
    in_file = imagenet.loc[imagenet["model"] == renamed, "top1"]
    assert len(in_file) == 1
    assert exact.loc["gluon_xception65", "imagenet_name"] == renamed
    assert exact.loc["gluon_xception65", "top1"] == in_file.iloc[0]
    assert in_file.iloc[0] == pytest.approx(79.554)  # the value the pinned release's file holds

    before = joins.join_imagenet_exact(_timm_only_names(models), imagenet)
    found_before = set(before.loc[before["top1"].notna(), "model"])
    found_now = set(exact.index[exact["top1"].notna()])
    assert found_now - found_before == {"gluon_xception65"}
    assert found_before <= found_now
    assert len(found_now) == len(found_before) + 1
    # the other models resolve to the very names timm's own table gives
    same = before.set_index("model")["imagenet_name"].drop("gluon_xception65")
    assert exact["imagenet_name"].drop("gluon_xception65").equals(same)


# ---------------------------------------------------------------------------------------------
# Repeated energy values, rescoring without them, ties and the release's order
# ---------------------------------------------------------------------------------------------

def repeated_runs() -> pd.DataFrame:
    """Three models in four settings. alpha repeats one value in full/tenth/hundredth, beta one
    in full and other_full (same share: the release's order decides), gamma repeats nothing."""
    settings = {"full": ("d", 1.0), "other_full": ("e", 1.0), "tenth": ("d", 0.1), "hundredth": ("d", 0.01)}
    energy = {("alpha", "full"): 5.0, ("alpha", "other_full"): 4.0, ("alpha", "tenth"): 5.0, ("alpha", "hundredth"): 5.0,
              ("beta", "full"): 2.0, ("beta", "other_full"): 2.0, ("beta", "tenth"): 0.2, ("beta", "hundredth"): 0.03,
              ("gamma", "full"): 3.0, ("gamma", "other_full"): 2.5, ("gamma", "tenth"): 0.3, ("gamma", "hundredth"): 0.02}
    rows = [{"model": m, "setting": s, "dataset": settings[s][0], "data_fraction": settings[s][1],
             "energy_kwh": energy[(m, s)], "co2_g": energy[(m, s)] * 100, "test_acc": 0.5 + 0.1 * i,
             "num_params": 1e6 * (i + 1), "train_time_s": 1.0 + i, "peak_mem_gb": 1.0 + i}
            for s in settings for i, m in enumerate(["alpha", "beta", "gamma"])]
    return pd.DataFrame(rows)


def test_repeated_value_counts_bound_the_copies():
    counts = robustness.repeated_value_counts(repeated_runs())
    # alpha: 3 rows share one value, beta: 2 rows; at most one per group is the original
    assert counts == {"rows": 5, "groups": 2, "min_copies": 3, "max_copies": 5,
                      "largest_group": 3, "smallest_group": 2}


def test_repeated_value_counts_on_the_release_agree_with_its_flag(data_dir):
    from pepr.store import results

    runs = results.import_paper()
    counts = robustness.repeated_value_counts(runs)
    flagged = runs[runs["flag_stale_resources"]]
    assert counts["rows"] == len(flagged)
    assert counts["groups"] == len(flagged.drop_duplicates(["model", "energy_kwh", "co2_g"]))
    assert counts["min_copies"] == counts["rows"] - counts["groups"] > 0
    assert counts["max_copies"] == counts["rows"]
    groups = robustness.repeated_value_groups(runs)
    assert len(groups) == counts["groups"] and groups["rows"].sum() == counts["rows"]


def test_repeated_value_groups_keep_the_run_with_the_most_data():
    groups = robustness.repeated_value_groups(repeated_runs()).set_index("model")
    assert groups.loc["alpha", "settings"] == ["full", "tenth", "hundredth"]
    assert groups.loc["alpha", "kept_setting"] == "full"  # largest share of its data
    assert groups.loc["alpha", "tied_settings"] == ["full"]
    assert groups.loc["beta", "kept_setting"] == "full"  # same share: the first in the release's order
    assert groups.loc["beta", "tied_settings"] == ["full", "other_full"]
    assert not groups.loc["beta", "same_data_tie"]  # different datasets


def test_without_repeated_values_drops_all_or_keeps_one_per_group():
    runs = repeated_runs()
    dropped = robustness.without_repeated_values(runs, "drop all")
    assert len(dropped) == len(runs) - 5
    assert not dropped[dropped["model"] == "alpha"]["setting"].isin(["full", "tenth", "hundredth"]).any()
    kept = robustness.without_repeated_values(runs, "keep one")
    assert len(kept) == len(runs) - 3
    alpha = set(kept.loc[kept["model"] == "alpha", "setting"])
    assert alpha == {"full", "other_full"}
    assert set(kept.loc[kept["model"] == "beta", "setting"]) == {"full", "tenth", "hundredth"}
    assert len(kept[kept["model"] == "gamma"]) == 4  # nothing repeated, nothing dropped
    with pytest.raises(BadParameterError):
        robustness.without_repeated_values(runs, "keep all")


def test_top_k_changes_reports_winners_and_movers():
    runs = repeated_runs()
    scored = {"release": score.add_pepr(runs),
              "drop all": score.add_pepr(robustness.without_repeated_values(runs, "drop all"))}
    changes = robustness.top_k_changes(scored, "release", k=2)
    assert list(changes["setting"]) == ["full", "other_full", "tenth", "hundredth"]  # the release's order
    full = changes.set_index("setting").loc["full"]
    # only gamma is left in "full": alpha and beta leave, the winner changes
    assert full["winner"] == "gamma" and not full["same_winner"]
    before = list(score.top_k(scored["release"].query("setting == 'full'"), "pepr_e", k=2)["model"])
    assert full["k"] == 2 and full["kept"] == int("gamma" in before)
    assert full["left"] == [m for m in before if m != "gamma"]
    assert full["entered"] == ([] if "gamma" in before else ["gamma"])
    with pytest.raises(BadParameterError):
        robustness.top_k_changes(scored, "nope")


def test_ties_at_top_lists_the_tied_models_in_the_tables_order():
    frame = pd.DataFrame({"setting": ["b", "b", "b", "a", "a"], "model": ["x", "y", "z", "x", "y"],
                          "test_acc": [0.9, 0.95, 0.95, 0.8, 0.7]})
    ties = analysis.ties_at_top(frame, "test_acc")
    assert len(ties) == 1
    tie = ties.iloc[0]
    assert tie["setting"] == "b" and tie["value"] == 0.95
    assert tie["models"] == ["y", "z"] and tie["listed_first"] == "y"
    assert analysis.ties_at_top(frame.iloc[::-1], "test_acc").iloc[0]["listed_first"] == "z"


def test_top_k_with_best_keeps_the_settings_order_and_names_ties():
    runs = pd.DataFrame({
        "setting": ["s2", "s2", "s2", "s1", "s1", "s1"], "model": ["beta", "alpha", "gamma"] * 2,
        "test_acc": [0.9, 0.9, 0.7, 0.6, 0.8, 0.7], "energy_kwh": [2.0, 1.0, 3.0, 2.0, 1.0, 3.0],
        "co2_g": [1.0] * 6, "train_time_s": [1.0] * 6, "peak_mem_gb": [1.0] * 6,
        "flag_stale_resources": [False, True, False, False, False, False],
    })
    table = analysis.top_k_with_best(score.add_pepr(runs), "pepr_e", k=1)
    assert list(dict.fromkeys(table["setting"])) == ["s2", "s1"]  # first appearance, not alphabetical
    best = table[table["row"] == "most accurate"].set_index("setting")
    assert best.loc["s2", "model"] == "beta"  # tied with alpha, and first in the table's order
    assert best.loc["s2", "tied_with"] == "alpha"
    assert best.loc["s1", "model"] == "alpha" and best.loc["s1", "tied_with"] == ""
    notes = analysis.top_table_notes(table)
    assert notes[table["row"].eq("most accurate") & table["setting"].eq("s2")].iloc[0] == "tied on P with alpha"
    assert notes[table["row"].eq("1") & table["setting"].eq("s2")].iloc[0] == "energy repeated"  # alpha, cheapest
    assert notes[table["setting"].eq("s1")].eq("").all()


def test_setting_order_is_first_appearance():
    frame = pd.DataFrame({"setting": ["pneumonia", "derma", "pneumonia", "lidc"]})
    assert analysis.setting_order(frame) == ["pneumonia", "derma", "lidc"]


def test_top_k_side_by_side_marks_models_new_to_the_top_k():
    runs = repeated_runs()
    scored = {"release": score.add_pepr(runs),
              "drop all": score.add_pepr(robustness.without_repeated_values(runs, "drop all"))}
    table = robustness.top_k_side_by_side(scored, "release", k=2)
    assert list(table.columns) == ["setting", "rank", "release", "drop all"]
    assert list(dict.fromkeys(table["setting"])) == ["full", "other_full", "tenth", "hundredth"]
    release = score.top_k(scored["release"], "pepr_e", k=2)
    for setting, group in release.groupby("setting"):
        assert list(table.loc[table["setting"] == setting, "release"]) == list(group["model"])
    full = table[table["setting"] == "full"]
    # only gamma is left in "full": rank 1 is gamma, marked new unless the release had it; rank 2 is empty
    expected = "gamma" if "gamma" in set(release.loc[release["setting"] == "full", "model"]) else "gamma (new)"
    assert full["drop all"].iloc[0] == expected and pd.isna(full["drop all"].iloc[1])


# ---------------------------------------------------------------------------------------------
# What the chapters compute: settings, the two ImageNet joins, rescoring, CO2 and thresholds
# ---------------------------------------------------------------------------------------------

def test_setting_table_one_row_per_setting_in_order_and_refuses_mixed_settings():
    runs = repeated_runs().assign(pretrained=True)
    runs.loc[runs["setting"] == "tenth", "pretrained"] = False
    table = analysis.setting_table(runs)
    assert list(table["setting"]) == ["full", "other_full", "tenth", "hundredth"]
    assert list(table.columns) == ["setting", "dataset", "start", "data_fraction", "models"]
    assert table.set_index("setting").loc["tenth", "start"] == "from scratch"
    assert table["models"].eq(3).all()
    mixed = runs.copy()
    mixed.loc[mixed.index[0], "data_fraction"] = 0.5  # one run of "full" on half the data
    with pytest.raises(BadParameterError, match="mixes"):
        analysis.setting_table(mixed)
    with pytest.raises(BadParameterError, match="more than once"):
        analysis.setting_table(pd.concat([runs, runs.iloc[:1]]))


def test_imagenet_joins_summary_counts_what_the_substring_join_changes():
    imagenet = pd.DataFrame({  # sorted by top-1, as timm publishes it
        "model": ["dla34_better.in1k", "xception65.tf_in1k", "dla34.in1k"],
        "top1": [80.0, 79.554, 74.6], "top5": [95.0, 94.8, 92.0]})
    joined = joins.imagenet_joins(["dla34", "gluon_xception65"], imagenet, default_tag=lambda name: "in1k")
    exact = joined.exact.set_index("model")
    assert exact.loc["gluon_xception65", "top1"] == 79.554  # through the zoo's rename
    assert exact.loc["dla34", "top1"] == 74.6
    summary = joined.summary()
    assert summary["models"] == 2 and summary["matched_exact"] == 2 and summary["unmatched_exact"] == []
    assert summary["renamed"] == 1 and summary["zoo_renames"] == {"gluon_xception65": "xception65.tf_in1k"}
    assert summary["differs"] == 2  # dla34 takes a longer name; gluon_xception65 finds nothing
    assert summary["other_row"] == 1  # of those, only dla34 found a row (another one)
    assert summary["unmatched_substring"] == 1 and summary["top1_changed"] == 1
    assert summary["max_gap"] == pytest.approx(80.0 - 74.6)
    assert (summary["example_model"], summary["example_match"]) == ("dla34", "dla34_better.in1k")


def test_imagenet_joins_on_the_release_find_every_model(data_dir):
    from pepr.data import paper

    models = paper.read_paper_table("model_names.csv").drop_duplicates("model")["model"]
    joined = joins.imagenet_joins(models, paper.read_paper_table("results-imagenet.csv"))
    summary = joined.summary()
    assert summary["matched_exact"] == summary["models"] == len(models)
    assert joined.exact.set_index("model").loc["gluon_xception65", "top1"] == pytest.approx(79.554)
    assert summary["unmatched_substring"] > 0 and summary["differs"] >= summary["top1_changed"] > 0


def test_rescore_without_repeated_values_counts_per_setting_and_per_rule():
    runs = repeated_runs()
    rescoring = robustness.rescore_without_repeated_values(runs, k=2)
    assert list(rescoring.scored) == ["release", *robustness.REPEATED_VALUE_RULES]
    assert rescoring.counts == robustness.repeated_value_counts(runs)
    table = rescoring.per_setting.set_index("setting")
    assert list(table.index) == ["full", "other_full", "tenth", "hundredth"]
    # full: alpha and beta repeat; other_full: beta; tenth and hundredth: alpha
    assert list(table["repeated rows"]) == [2, 1, 1, 1]
    assert list(table["kept by keep one"]) == [2, 0, 0, 0]  # both groups keep their "full" row
    top = score.top_k(rescoring.scored["release"], "pepr_e", k=2)
    repeated = {("alpha", "full"), ("alpha", "tenth"), ("alpha", "hundredth"), ("beta", "full"), ("beta", "other_full")}
    in_top = [sum((m, s) in repeated for m in top.loc[top["setting"] == s, "model"]) for s in table.index]
    assert list(table["of them in the top 2"]) == in_top and sum(in_top) > 0
    for rule in robustness.REPEATED_VALUE_RULES:
        changes = rescoring.changes[rescoring.changes["scoring"] == rule]
        assert list(table[f"top 2 kept, {rule}"]) == list(changes["kept"])
        assert rescoring.by_rule.loc[rule, "kept"] == changes["kept"].sum()
        assert rescoring.by_rule.loc[rule, "changed"] == (~changes["same_winner"]).sum()
        assert rescoring.by_rule.loc[rule, "places"] == 2 * 4
    assert list(rescoring.side_by_side.columns) == ["setting", "rank", "release", *robustness.REPEATED_VALUE_RULES]


def test_intensity_experiment_cancels_within_settings_but_not_pooled():
    rng = np.random.default_rng(3)
    runs = pd.DataFrame({
        "model": [f"m{i}" for i in range(6)] * 2, "setting": ["s1"] * 6 + ["s2"] * 6,
        "test_acc": rng.uniform(0.5, 0.9, 12), "energy_kwh": np.r_[np.linspace(1, 2, 6), np.linspace(0.5, 5, 6)],
        "train_time_s": 1.0, "peak_mem_gb": 1.0,
    })
    runs["co2_g"] = runs["energy_kwh"] * np.where(runs["setting"] == "s1", 100.0, 400.0) * rng.uniform(0.9, 1.1, 12)
    result = robustness.intensity_experiment(runs, pue=1.5, k=3)
    assert result["intensity_low_setting"] == "s1" and result["intensity_high_setting"] == "s2"
    assert result["run_intensity_min"] < result["intensity_low"] < result["intensity_high"] < result["run_intensity_max"]
    assert result["gap_within"] < 1e-12 and result["gap_pue"] < 1e-12
    assert result["kept_intensity_total"] == 6 and 0 <= result["kept_intensity"] <= 6


def test_size_thresholds_lie_strictly_inside_on_a_log_grid():
    thresholds = robustness.size_thresholds(pd.Series([1e6, 3e7, 1e8]), count=3)
    assert len(thresholds) == 3
    assert np.allclose(np.log10(thresholds), [6.5, 7.0, 7.5])
    with pytest.raises(BadParameterError):
        robustness.size_thresholds(pd.Series([1e6, 1e8]), count=0)


def test_threshold_experiment_splits_at_the_median_model():
    scored = score.add_pepr(tiny_runs())
    experiment = robustness.threshold_experiment(scored, count=5, k=1)
    assert len(experiment.sweep) == 5
    assert experiment.median_params == 5e6
    assert experiment.at_median["threshold"] == 5e6 and experiment.at_median["small_models"] == 2
    ahead = experiment.sweep["share of top-k small"] > experiment.sweep["share of all runs small"]
    assert experiment.ahead == int(ahead.sum())


def test_paper_comparisons_cached_computes_once_per_data(tmp_path, monkeypatch):
    (tmp_path / "_config.yml").write_text("title: t\n")
    (tmp_path / "_toc.yml").write_text("root: intro\n")
    rng = np.random.default_rng(5)
    settings = sorted({s for arms in analysis.PAPER_COMPARISONS.values() for arm in arms for s in arm})
    scored = pd.DataFrame([{"model": f"m{i}", "setting": s, "test_acc": rng.uniform(0.5, 0.9)}
                           for i in range(12) for s in settings])
    calls = []
    real = analysis.paper_comparisons

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(analysis, "paper_comparisons", counted)
    first = analysis.paper_comparisons_cached(scored, n_resamples=99, root=tmp_path)
    again = analysis.paper_comparisons_cached(scored, n_resamples=99, root=tmp_path)
    assert len(calls) == 1
    pd.testing.assert_frame_equal(first, again)
    pd.testing.assert_frame_equal(first, real(scored, n_resamples=99))
    changed = scored.assign(test_acc=scored["test_acc"] * 0.99)
    analysis.paper_comparisons_cached(changed, n_resamples=99, root=tmp_path)
    analysis.paper_comparisons_cached(scored, n_resamples=199, root=tmp_path)
    assert len(calls) == 3  # new data, or another number of resamples, computes afresh

    real_pair = analysis.paired_comparison

    def other_statistics(a, b, n_resamples=9999, seed=0):
        return {**real_pair(a, b, n_resamples, seed), "mean_diff": 0.0}

    monkeypatch.setattr(analysis, "paired_comparison", other_statistics)
    analysis.paper_comparisons_cached(scored, n_resamples=99, root=tmp_path)
    assert len(calls) == 4  # changed statistics code is not served from the old file


def test_top_table_notes_can_leave_repeated_rows_to_a_mark():
    top = pd.DataFrame({"model": ["a", "b", "c"], "flag_stale_resources": [True, False, True],
                        "tied_with": ["", "", "d"]})
    assert list(analysis.top_table_notes(top)) == ["energy repeated", "", "energy repeated; tied on P with d"]
    assert list(analysis.top_table_notes(top, repeated_note="")) == ["", "", "tied on P with d"]
    marked = analysis.mark_rows(top["model"], top["flag_stale_resources"])
    assert list(marked) == ["a \u2020", "b", "c \u2020"]
    assert list(analysis.mark_rows(top["model"], pd.Series([None, True, False]), "*")) == ["a", "b *", "c"]


@pytest.mark.parametrize("sizes", [[], [0.0, 1e6], [-1.0, 2e6]])
def test_size_thresholds_refuse_sizes_they_cannot_place(sizes):
    with pytest.raises(BadParameterError):
        robustness.size_thresholds(pd.Series(sizes, dtype=float))


def test_spearman_ci_without_an_interval_when_ties_leave_resamples_constant():
    import warnings

    x = np.array([0.625, 0.625, 0.625, 0.625, 0.70, 0.80])  # four models at the majority rate
    y = np.array([0.50, 0.61, 0.55, 0.58, 0.70, 0.66])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may reach a page's stderr
        out = analysis.spearman_ci(x, y, n_resamples=999)
        flat = analysis.spearman_ci(np.full(6, 0.625), y, n_resamples=999)
    assert np.isfinite(out["rho"]) and np.isnan(out["ci_low"]) and np.isnan(out["ci_high"])
    assert np.isnan(flat["rho"])
