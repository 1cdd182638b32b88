"""Statistical and ranking settings that the command line's help, the notes and the book state, written
once. They live apart from :mod:`pepr.verdicts` (numpy, pandas, scipy) so that building the
command line's parser imports nothing; :mod:`pepr.verdicts` uses them from here.
"""

from __future__ import annotations

#: One-sided exact binomial test of a run's accuracy against its majority-class baseline: the
#: run beats the baseline when the p-value is below this.
ALPHA = 0.05
#: Confidence of every interval on an accuracy or a claim.
CONFIDENCE = 0.95

#: The scores a ranking may be by, and how a report names each (``pepr score --by``,
#: ``pepr report``): :data:`pepr.scoring.score.RANK_SCORES` is its keys.
RANK_SCORE_NAMES: dict[str, str] = {
    "pepr_e": "PePR-E (energy)", "pepr_c": "PePR-C (CO2)", "pepr_t": "PePR-T (training time)",
    "pepr_m": "PePR-M (memory)", "test_acc": "test accuracy",
}

#: Extra arguments for every kernel pepr starts through papermill: the kernel's own start-up
#: log (a warning that a local kernel talks over TCP without encryption) is left out, so it
#: does not break into a sweep's progress bar; a cell's own warnings and errors still show.
KERNEL_ARGUMENTS: tuple[str, ...] = ("--IPKernelApp.log_level=ERROR",)
