"""Statistical settings that the command line's help, the notes and the book state, written
once. They live apart from :mod:`pepr.verdicts` (numpy, pandas, scipy) so that building the
command line's parser imports nothing; :mod:`pepr.verdicts` uses them from here.
"""

from __future__ import annotations

#: One-sided exact binomial test of a run's accuracy against its majority-class baseline: the
#: run beats the baseline when the p-value is below this.
ALPHA = 0.05
#: Confidence of every interval on an accuracy or a claim.
CONFIDENCE = 0.95
