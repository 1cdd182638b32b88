"""The settings of ``pepr advise`` that its help, its notes, the README and the book's figures
state, written once. They live apart from :mod:`pepr.advice.advise` (numpy, pandas) so that building
the command line's parser imports nothing; :mod:`pepr.advice.advise` and :mod:`pepr.training.trials` use them from here.
"""

from __future__ import annotations

#: ``pepr advise``'s calibration: this many reference models (spread over the reference's range
#: of speeds, cheap first), each timed over this many training steps of this batch size.
CALIBRATION_MODELS = 4
CALIBRATION_BATCHES = 5
#: A model's timed steps continue, up to :data:`CALIBRATION_MAX_BATCHES`, while half their
#: interquartile range exceeds this share of their median (a step slowed by another process
#: widens it), so a busy moment is waited out rather than averaged in.
CALIBRATION_STABLE_SPREAD = 0.05
CALIBRATION_MAX_BATCHES = 20
BATCH_SIZE = 32
#: The quantiles of a model's relative accuracy that bound its expected accuracy's interval.
ACCURACY_INTERVAL = (0.1, 0.9)
#: ``pepr advise --probe``'s defaults: the first :data:`PROBE_K` candidates, each trained on this
#: share of the planned training data (stratified, as a run's ``data_fraction``) for
#: :data:`PROBE_EPOCHS` epochs. They are the simulated probe with the lowest mean regret in the
#: backtest's grid (``python benchmarks/advise_backtest.py --probe-grid``, which simulates
#: probes on the whole training split from the recorded runs' first epochs; the book's advice
#: chapter shows the grid and checks these against it).
PROBE_K = 5
PROBE_FRACTION = 1.0
PROBE_EPOCHS = 5
#: The say the probe has in the probed accuracy: the mean of two estimates (see
#: :func:`pepr.advice.advise.rerank_with_probe`), the expected accuracy and the one the probe implies.
PROBE_WEIGHT = 0.5


def percentile_name(quantile: float) -> str:
    """A quantile as a reader says its percentile: ``0.1`` is ``"10th"``, ``0.02`` ``"2nd"``."""
    number = round(quantile * 100)
    suffixes = {1: "st", 2: "nd", 3: "rd"}
    suffix = "th" if 11 <= number % 100 <= 13 else suffixes.get(number % 10, "th")
    return f"{number}{suffix}"


#: :data:`ACCURACY_INTERVAL` in words, for texts and axis labels: ``"10th-90th percentile"``.
ACCURACY_INTERVAL_NAME = (f"{percentile_name(ACCURACY_INTERVAL[0])}-"
                          f"{percentile_name(ACCURACY_INTERVAL[1])} percentile")
