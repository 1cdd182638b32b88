"""Split into :mod:`pepr.scoring.analysis`, :mod:`pepr.scoring.joins` and
:mod:`pepr.scoring.robustness`; their public names stay importable from ``pepr.analysis`` for
one release."""

from pepr.scoring.analysis import *  # noqa: F403
from pepr.scoring.joins import *  # noqa: F403
from pepr.scoring.robustness import *  # noqa: F403
