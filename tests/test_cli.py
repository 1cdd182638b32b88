"""``pepr score paper`` reproduces the release's own method to floating-point identity."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pepr import cli
from pepr.cli import main


def release_method(raw: pd.DataFrame) -> pd.DataFrame:
    """The release's scoring, written independently from its description.

    Per setting over its 131 models: X_n = (X - min X) / (max X - min X) with numpy, for X in
    energy, co2, train_time and memR, and PePR-X = test_09 / (1 + X_n).
    """
    parts = []
    for setting in raw["dataset"].unique():
        single = raw[raw["dataset"] == setting]
        part = pd.DataFrame({"model": single["model"].to_numpy(), "setting": setting})
        for key, column in {"E": "energy", "C": "co2", "T": "train_time", "M": "memR"}.items():
            values = single[column].to_numpy()
            normalised = (values - values.min()) / (values.max() - values.min())
            part[f"{key}_n"] = normalised
            part[f"pepr_{key.lower()}"] = single["test_09"].to_numpy() / (1 + normalised)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def test_score_paper_equals_the_release_method(tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "p.csv"
    assert main(["score", "paper", "-o", str(out)]) == 0
    ours = pd.read_csv(out).set_index(["setting", "model"])
    theirs = release_method(pd.read_csv(data_dir / "paper" / "all_results.csv")).set_index(["setting", "model"])
    assert len(ours) == len(theirs) == 1048
    ours = ours.loc[theirs.index]
    for column in ["pepr_e", "pepr_c", "pepr_t", "pepr_m", "E_n", "C_n", "T_n", "M_n"]:
        np.testing.assert_array_equal(ours[column].to_numpy(), theirs[column].to_numpy(), err_msg=column)


def test_user_error_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {**os.environ, "PEPR_DATA_DIR": str(tmp_path), "PEPR_CACHE_DIR": str(tmp_path / "c"),
           "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}
    proc = subprocess.run([sys.executable, "-m", "pepr", "score", "paper", "-o", str(tmp_path / "x.csv")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "all_results.csv" in proc.stderr


def test_an_error_on_a_terminal_is_wrapped_to_its_width(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    missing = tmp_path / "a" / "rather" / "long" / "path" / "to" / "a" / "results" / "folder" / "that" / "is" / "not" / "there"
    assert main(["score", "nope", "--results-dir", str(missing)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) > 1 and max(map(len, err)) <= 80 and all(line.startswith("    ") for line in err[1:])


def test_unknown_study_is_a_user_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", "nope", "--results-dir", str(tmp_path)]) == 2
    assert "no results for study 'nope'" in capsys.readouterr().err


def test_data_lists_where_files_resolve(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    assert main(["data"]) == 0
    printed = capsys.readouterr().out
    assert "all_results.csv" in printed and str(data_dir) in printed


def test_score_prints_ids_that_look_like_numbers_verbatim(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from pepr.store import results

    ids = ["012345678901", "1234e5678901", "000000000007"]
    for index, run_id in enumerate(ids):
        results.append_run({"run_id": run_id, "study": "digits", "model": f"m{index}",
                            "setting": "s", "status": "ok", "test_acc": 0.5 + index / 10,
                            "energy_kwh": 1.0 + index, "co2_g": 1.0, "train_time_s": 2.0,
                            "peak_mem_gb": 1.0}, tmp_path)
    assert main(["score", "digits", "--results-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    for run_id in ids:
        assert f",{run_id}," in printed or printed.count(run_id) == 1
    assert "12345678901.0" not in printed and ",inf," not in printed and ",7.0," not in printed


def test_a_dataset_registered_on_the_command_line_is_known_to_a_new_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    for split in ("train", "val", "test"):
        for label, shade in (("a", 40), ("b", 200)):
            folder = tmp_path / "imgs" / split / label
            folder.mkdir(parents=True)
            Image.new("L", (12, 12), shade).save(folder / "0.png")
    registry = tmp_path / "datasets.yml"
    monkeypatch.setenv("PEPR_DATASETS_FILE", str(registry))
    assert main(["data", "--register", "mine", str(tmp_path / "imgs"), "--licence", "CC0"]) == 0
    listing = subprocess.run([sys.executable, "-m", "pepr", "data", "--images"],
                             capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0 and "mine" in listing.stdout
    assert main(["data", "--unregister", "mine"]) == 0
    assert "mine" not in registry.read_text().split("# The data itself is never committed.")[-1]


def _one_line(text: str) -> bool:
    return text.count("\n") == 1 and "Traceback" not in text


def test_report_of_an_unknown_study_is_one_line_and_exit_2(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "nope", "--results-dir", str(tmp_path), "--output", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert _one_line(captured.err) and "no results for study 'nope'" in captured.err
    assert captured.out == "" and not (tmp_path / "out").exists()


def test_report_of_an_empty_study_is_one_line_and_exit_2(tmp_path: Path, make_study,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    make_study(tmp_path, "empty", settings=())
    assert main(["report", "empty", "--results-dir", str(tmp_path), "--output", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert _one_line(captured.err) and "'empty' has no runs yet" in captured.err


def test_report_refuses_an_unknown_ranking_score(tiny_study, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    study, results_dir = tiny_study
    assert main(["report", study, "--results-dir", str(results_dir), "--rank-by", "energy_kwh",
                 "--output", str(tmp_path / "out")]) == 2
    assert "cannot rank by 'energy_kwh'" in capsys.readouterr().err


@pytest.mark.slow
def test_report_prints_the_notebook_and_the_page(tiny_study, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    study, results_dir = tiny_study
    assert main(["report", study, "--results-dir", str(results_dir), "--output", str(tmp_path / "out"),
                 "--pool", "setting", "dataset", "--title", "Tiny study"]) == 0
    printed = capsys.readouterr().out.splitlines()
    folder = tmp_path / "out" / study
    assert printed == [str(folder / "report.ipynb"), str(folder / "report.html")]
    import nbformat

    injected = next(c for c in nbformat.read(folder / "report.ipynb", as_version=4).cells
                    if "injected-parameters" in c.metadata.get("tags", []))
    assert 'pool = "setting,dataset"' in injected.source and 'title = "Tiny study"' in injected.source
    assert "rank_by" not in injected.source  # not given: the template's default


def _scores_csv(text: str) -> pd.DataFrame:
    import io

    return pd.read_csv(io.StringIO(text), dtype={"run_id": str})


def test_score_top_1_by_accuracy_is_the_best_run_of_each_pool(tiny_study,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from pepr.store import results

    study, results_dir = tiny_study
    assert main(["score", study, "--results-dir", str(results_dir), "--by", "test_acc", "--top", "1"]) == 0
    shown = _scores_csv(capsys.readouterr().out)
    runs = results.load(study, results_dir)
    best = runs.loc[runs.groupby("setting")["test_acc"].idxmax()]
    assert shown["setting"].tolist() == sorted(runs["setting"].unique())
    assert shown["rank"].tolist() == [1, 1]
    assert shown["run_id"].tolist() == best["run_id"].tolist()
    assert shown["test_acc"].tolist() == best["test_acc"].tolist()


def test_score_ranks_every_run_within_its_pool_best_first(tiny_study, tmp_path: Path) -> None:
    study, results_dir = tiny_study
    out = tmp_path / "s.csv"
    assert main(["score", study, "--results-dir", str(results_dir), "-o", str(out)]) == 0
    table = _scores_csv(out.read_text())
    assert table.columns[0] == "rank"
    for _, pool in table.groupby("setting"):
        assert pool["rank"].tolist() == list(range(1, len(pool) + 1))
        assert pool["pepr_e"].is_monotonic_decreasing
    assert set(table["run_id"]) == {"tiny00000000", "tiny00000001", "tiny00000002"}


def test_score_on_a_terminal_is_an_aligned_table_per_pool(tiny_study, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    study, results_dir = tiny_study
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(["score", study, "--results-dir", str(results_dir), "--top", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "setting = a: best 1 of 2 runs" in lines and "setting = b: 1 run" in lines
    assert not any("," in line for line in lines if not line.startswith("setting"))
    header = next(line for line in lines if line.lstrip().startswith("rank"))
    assert "setting" not in header.split()  # the pool is the block's title, not a column
    assert set(lines[lines.index(header) + 1]) <= {"-", " "}  # the rule under the header
    row = dict(zip(header.split(), lines[lines.index(header) + 2].split()))
    # model_0 is the cheaper of setting a: R = 0, PePR-E = P = 0.7, shown to three decimals
    assert (row["rank"], row["model"], row["acc"], row["pepr_e"]) == ("1", "model_0", "0.700", "0.700")
    assert row["beats"] in ("yes", "NO", "?")
    assert any(line.startswith("beats (above_baseline in the CSV): a one-sided exact binomial test")
               for line in lines)


def test_score_refuses_an_unknown_ranking_score(tiny_study, capsys: pytest.CaptureFixture[str]) -> None:
    study, results_dir = tiny_study
    assert main(["score", study, "--results-dir", str(results_dir), "--by", "energy_kwh"]) == 2
    assert "cannot rank by 'energy_kwh'" in capsys.readouterr().err


def test_the_help_lists_every_ranking_score() -> None:
    from pepr import cli
    from pepr.scoring import score

    assert all(name in cli.RANK_SCORES_HELP for name in score.RANK_SCORES)
    assert len(cli.RANK_SCORES_HELP.replace(" or ", ", ").split(", ")) == len(score.RANK_SCORES)


def test_score_above_baseline_ranks_no_constant_classifier(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", "cpu-rerun", "--top", "5", "--above-baseline", "-o", "-"]) == 0
    shown = _scores_csv(capsys.readouterr().out)
    for column in ("baseline_acc", "above_baseline", "test_acc_low", "test_acc_high"):
        assert column in shown.columns
    assert shown["above_baseline"].all() and (shown["test_acc"] > shown["baseline_acc"]).all()
    assert (shown["test_acc_low"] < shown["test_acc"]).all()
    assert (shown["test_acc"] < shown["test_acc_high"]).all()


def test_score_paper_marks_derma_smallests_constant_guessers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", "paper", "--top", "5", "-o", "-"]) == 0
    shown = _scores_csv(capsys.readouterr().out)
    smallest = shown[shown["setting"] == "derma_smallest"]
    at_rate = smallest[np.isclose(smallest["test_acc"], smallest["baseline_acc"])]
    assert len(at_rate) >= 3 and (~at_rate["above_baseline"]).all()


def test_score_with_skill_as_performance(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", "cpu-rerun", "--performance", "skill", "--top", "1", "-o", "-"]) == 0
    shown = _scores_csv(capsys.readouterr().out)
    assert (shown["skill"] > 0).all()  # no setting's best by skill is a constant classifier


def test_help_names_every_command_and_every_option_says_what_it_does():
    import argparse

    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    summary = " ".join(parser.format_help().split("positional arguments")[0].split())
    missing_help = []
    for name, sub in commands.choices.items():
        assert name in summary, name
        for action in sub._actions:
            if not isinstance(action, argparse._HelpAction) and not action.help:
                missing_help.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert not missing_help, missing_help


def test_a_closed_pipe_ends_quietly(data_dir):
    import subprocess
    import sys

    script = "import sys; from pepr.cli import main; sys.exit(main(['score', 'paper']))"
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", f'{sys.executable} -c "{script}" | head -3'],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 3 and "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_a_torn_results_line_is_one_warning_line_naming_the_run(tmp_path, capsys):
    from conftest import write_study

    table = write_study(tmp_path, "torn")
    text = table.read_text()
    lines = text.splitlines()
    table.write_text("\n".join(lines) + "\n" + lines[-1][: len(lines[-1]) // 2])  # a torn last line
    assert main(["score", "torn", "--results-dir", str(tmp_path), "-o", str(tmp_path / "s.csv")]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    torn = [line for line in err if "incomplete line" in line]
    assert len(torn) == 1 and torn[0].startswith("pepr: warning: ")
    assert "dropped 1 incomplete line: line" in torn[0] and "(run " in torn[0]
    assert not any("UserWarning" in line or "results.py" in line for line in err)


@pytest.mark.parametrize("argv", [["data"], ["data", "--images"], ["zoo"], ["score", "paper", "--top", "3"]])
def test_tables_fit_an_80_column_terminal(argv, data_dir, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)  # score prints CSV into a pipe
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) > 3 and max(len(line) for line in lines) <= 160


def test_a_terminal_table_wraps_text_and_aligns_it_left():
    from pepr.reporting import terminal

    frame = pd.DataFrame({"model": ["a", "bb"], "acc": [0.5, float("nan")],
                          "why": ["word " * 40, "short"]})
    text = terminal.fit_table(frame, width=60)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 60 and len(lines) > 4  # the long text wrapped
    assert lines[2].startswith("a ") and "\u2013" in text  # text left; a missing value as a dash
