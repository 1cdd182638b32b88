"""The study report object that both the report template and the CPU chapter render."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pepr.core.errors import BadParameterError
from pepr.reporting import report
from pepr.reporting.study import StudyReport, pool_columns
from pepr.scoring import score


def test_pool_parameter_reads_as_columns():
    assert pool_columns("setting") == ("setting",)
    assert pool_columns(" setting, seed ,") == ("setting", "seed")
    assert pool_columns("") == ()
    assert pool_columns(["dataset"]) == ("dataset",)


def test_an_unknown_ranking_score_is_refused(tiny_study):
    study, results_dir = tiny_study
    with pytest.raises(BadParameterError, match="rank_by must be one of"):
        StudyReport.load(study, results_dir, rank_by="pepr_x")


def test_the_report_holds_the_finished_runs_scored_in_their_pools(tiny_study):
    study, results_dir = tiny_study
    r = StudyReport.load(study, results_dir, rank_by="pepr_t", pool="setting")
    assert len(r.all_runs) == 3 and len(r.runs) == 3
    assert r.spec is None and r.planned == [] and r.summary["planned"] is None
    expected = score.add_pepr(r.runs, pool=["setting"])
    pd.testing.assert_series_equal(r.scored["pepr_t"], expected["pepr_t"])
    assert list(r.table.columns[:1]) == list(report.ranked(r.scored, "pepr_t", ["setting"]).columns[:1])
    assert r.totals["hours"] == pytest.approx((10 + 20 + 30) / 3600)
    assert r.on_front.index.equals(r.scored.index) and r.on_front.dtype == bool


def test_pooling_all_runs_changes_the_scores(tiny_study):
    study, results_dir = tiny_study
    apart = StudyReport.load(study, results_dir, pool="setting").scored["pepr_e"]
    pooled = StudyReport.load(study, results_dir, pool="").scored["pepr_e"]
    assert not apart.equals(pooled)


def test_a_study_without_finished_runs_says_so(tmp_path: Path, make_study):
    make_study(tmp_path, "empty", settings=())
    r = StudyReport.load("empty", tmp_path)
    assert r.runs.empty and r.table.empty and r.split is None and r.arms.empty
    assert r.verdicts_markdown() == "No run has finished yet, so no claim can be judged."


def test_the_verdicts_are_the_four_claims_with_the_protocol(tiny_study):
    study, results_dir = tiny_study
    r = StudyReport.load(study, results_dir)
    claims = r.claims()
    assert len(claims) == 4 and all(text.startswith("**") for text in claims)
    box = r.verdicts_markdown(device="a test machine")
    assert all(text in box for text in claims) and "a test machine" in box


def test_progress_is_said_in_the_tense_that_fits():
    done = {"planned": 10, "runs": 10, "ok": 8, "failed": 0, "skipped": 2}
    assert report.study_complete(done)
    said = report.progress_sentence(done)
    assert said.startswith("the study is complete") and "8 finished" in said and "2 not run" in said
    assert "when this page was built" not in said
    running = {"planned": 10, "runs": 6, "ok": 5, "failed": 1, "skipped": 0}
    said = report.progress_sentence(running)
    assert not report.study_complete(running)
    assert "5 of the 10 planned runs had finished when this page was built (50%)" in said
    assert "1 failed" in said and "not yet run its whole grid" in said
    assert report.progress_sentence({"planned": None, "runs": 1, "ok": 1, "failed": 0,
                                     "skipped": 0}) == "1 run finished"
