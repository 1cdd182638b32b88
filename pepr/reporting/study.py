"""One study's report, assembled once: the tables and findings that every page about a study shows.

``notebooks/report.ipynb`` (``pepr report STUDY`` and each study's generated chapter) and the CPU
rerun's chapter (``notebooks/analysis/08_cpu_rerun.ipynb``) both build a :class:`StudyReport` and
render its parts; neither repeats how a table is computed. Every part is computed on first use and
kept, so a page pays only for what it shows.

Book side only: pandas, NumPy and SciPy, never torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from pepr.core import paths
from pepr.core.errors import BadParameterError, PeprError
from pepr.reporting import claims, comparisons, findings, report
from pepr.scoring import score, verdicts
from pepr.store import results, studies


def pool_columns(pool: str | Sequence[str]) -> tuple[str, ...]:
    """The columns a report normalises apart: a comma-separated string (as a notebook parameter
    gives it) or a sequence; empty pools all runs."""
    parts = pool.split(",") if isinstance(pool, str) else pool
    return tuple(part.strip() for part in parts if part.strip())


@dataclass(frozen=True)
class StudyReport:
    """The report of the study ``study``, read from ``results_dir``.

    ``rank_by`` is one of :data:`pepr.reporting.report.RANK_SCORES`; ``pool`` the columns whose
    groups are normalised (and ranked) apart. ``spec`` is the study file (None when the study
    has none, e.g. runs made one by one). Each attribute below is a table or a finding computed
    from the study's rows on first use.
    """

    study: str
    all_runs: pd.DataFrame = field(repr=False)
    spec: dict[str, object] | None = field(default=None, repr=False)
    rank_by: str = "pepr_e"
    pool: tuple[str, ...] = score.DEFAULT_POOL
    results_dir: Path = paths.RESULTS_DIR

    def __post_init__(self) -> None:
        if self.rank_by not in report.RANK_SCORES:
            raise BadParameterError(f"rank_by must be one of {', '.join(report.RANK_SCORES)}, not {self.rank_by!r}")

    @classmethod
    def load(cls, study: str, results_dir: Path | str | None = None, studies_dir: Path | str | None = None,
             *, rank_by: str = "pepr_e", pool: str | Sequence[str] = score.DEFAULT_POOL) -> StudyReport:
        """Read the study's rows (failed and skipped ones too) and its study file, if any."""
        results_dir = Path(results_dir) if results_dir is not None else paths.RESULTS_DIR
        return cls(study, results.load(study, results_dir, include_failed=True),
                   report.study_file(study, studies_dir), rank_by, pool_columns(pool), results_dir)

    # -- the rows ------------------------------------------------------------------------------

    @cached_property
    def runs(self) -> pd.DataFrame:
        """The finished (``ok``) runs, each with its verdict against the majority class."""
        runs = self.all_runs[self.all_runs["status"] == "ok"].reset_index(drop=True)
        return verdicts.with_verdicts(runs, self.study) if len(runs) else runs

    @cached_property
    def scored(self) -> pd.DataFrame:
        """:attr:`runs` with every PePR variant, normalised within :attr:`pool`."""
        return score.add_pepr(self.runs, pool=self.pool) if len(self.runs) else self.runs

    @cached_property
    def epochs(self) -> pd.DataFrame:
        """The per-epoch history of the finished runs."""
        epochs = results.load_epochs(self.study, self.results_dir)
        return epochs[epochs["run_id"].isin(self.runs["run_id"])] if len(epochs) else epochs

    @cached_property
    def planned(self) -> list[dict[str, object]]:
        """The study file's grid, one entry per run (empty without a study file, or when a model
        or dataset of the grid cannot be resolved on this machine)."""
        if not self.spec:
            return []
        try:
            return studies.expand(self.spec)
        except PeprError:
            return []

    @cached_property
    def summary(self) -> dict[str, object]:
        """:func:`pepr.reporting.report.grid_summary` of every row against the grid."""
        return report.grid_summary(self.all_runs, len(self.planned) or None)

    @cached_property
    def totals(self) -> dict[str, float]:
        """Hours, kWh and kg of CO2 of the finished runs."""
        return report.totals(self.runs)

    @cached_property
    def _size_column(self) -> tuple[str, str]:
        return report.size_column(self.runs)

    @property
    def size(self) -> str:
        """The column that measures a model's size in this study."""
        return self._size_column[0]

    @property
    def size_label(self) -> str:
        """How figures and tables name :attr:`size`."""
        return self._size_column[1]

    # -- rankings and claims -------------------------------------------------------------------

    @cached_property
    def table(self) -> pd.DataFrame:
        """Every finished run, ranked within its pool by :attr:`rank_by`."""
        return report.ranked(self.scored, self.rank_by, self.pool) if len(self.runs) else pd.DataFrame()

    @cached_property
    def split(self) -> pd.Series | None:
        """Small against large in the top five, among the runs that beat their baseline."""
        return report.small_large_split(self.scored, self.rank_by, self.size) if len(self.runs) else None

    @cached_property
    def _above_baseline(self) -> tuple[pd.DataFrame, dict[str, int]]:
        return verdicts.keep_above_baseline(self.scored) if len(self.runs) else (self.runs, {})

    @property
    def kept(self) -> pd.DataFrame:
        """The finished runs that beat their majority-class baseline."""
        return self._above_baseline[0]

    @property
    def set_aside(self) -> dict[str, int]:
        """How many runs :attr:`kept` leaves out, and why."""
        return self._above_baseline[1]

    @cached_property
    def small_large(self) -> pd.DataFrame:
        """Per setting, the median split of :attr:`kept` and the small half's top-five places."""
        return (report.small_large_by_setting(self.kept, self.rank_by, self.size)
                if len(self.kept) else pd.DataFrame())

    @cached_property
    def front(self) -> pd.DataFrame:
        """The runs on the Pareto front of accuracy against size in their setting."""
        return comparisons.pareto_members(self.scored, self.size) if len(self.runs) else self.runs

    @property
    def on_front(self) -> pd.Series:
        """True for each run of :attr:`scored` on :attr:`front` (the runs a size figure rings)."""
        return pd.Series(self.scored.index.isin(self.front.index), index=self.scored.index)

    @cached_property
    def arms(self) -> pd.DataFrame:
        """Paired comparisons across training fractions and initialisations."""
        return comparisons.arm_comparisons(self.scored) if len(self.runs) else pd.DataFrame()

    def seed_agreement(self, scores: Sequence[str]) -> pd.DataFrame:
        """Kendall's tau between seeds' rankings by each of ``scores``."""
        return report.seed_agreements(self.scored, scores) if len(self.runs) else pd.DataFrame()

    # -- the release ---------------------------------------------------------------------------

    @cached_property
    def _paper(self) -> tuple[pd.DataFrame | None, str | None]:
        """The official release's runs and None, or None and the kind of error that kept them
        from being read or fetched."""
        try:
            return results.import_paper(), None
        except PeprError as error:
            return None, type(error).__name__

    @property
    def paper_runs(self) -> pd.DataFrame | None:
        """The official release's runs, or None when its table can neither be read nor fetched."""
        return self._paper[0]

    @property
    def paper_error(self) -> str | None:
        """Why :attr:`paper_runs` is None (the error's kind), else None."""
        return self._paper[1]

    @cached_property
    def paper_pairs(self) -> dict[tuple[str, str], pd.DataFrame]:
        """Per shared setting, the models this study and the release both ran."""
        return comparisons.agreement_pairs(self.runs, self.paper_runs) if len(self.runs) else {}

    @cached_property
    def paper_agreement(self) -> pd.DataFrame:
        """Spearman's rho with the release, per shared setting."""
        return (comparisons.paper_agreement(self.runs, self.paper_runs, self.paper_pairs)
                if len(self.runs) else pd.DataFrame())

    # -- what the pages say --------------------------------------------------------------------

    def key_findings(self) -> list[str]:
        """The report's headline sentences (:func:`pepr.reporting.findings.key_findings`)."""
        return findings.key_findings(self.summary, self.table, self.rank_by, self.pool, self.split,
                                     self.totals, self.paper_agreement)

    def claims(self) -> list[str]:
        """The paper's claims judged on this study's rows, each with its interval."""
        return [claims.small_models_claim(self.split, self.rank_by),
                claims.larger_more_accurate_claim(self.small_large),
                claims.more_data_claim(self.arms),
                claims.release_agreement_claim(self.paper_agreement)]

    def verdicts_markdown(self, device: str | None = None) -> str:
        """The claims box with the protocol they were judged under (``device``: how to name
        the hardware, default the rows' own)."""
        if not len(self.runs):
            return "No run has finished yet, so no claim can be judged."
        facts = claims.protocol_facts(self.runs, self.summary, device=device)
        return claims.verdicts_box(self.claims(), claims.protocol_sentence(facts))
