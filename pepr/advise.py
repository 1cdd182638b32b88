"""Split into :mod:`pepr.advice.advise` (the advice, from tables) and
:mod:`pepr.training.trials` (the calibration and the probe, which train); their public names
stay importable from ``pepr.advise`` for one release."""

from pepr.advice.advise import *  # noqa: F403
from pepr.advice.defaults import *  # noqa: F403
from pepr.training.trials import *  # noqa: F403
