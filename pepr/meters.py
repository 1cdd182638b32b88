"""Split into :mod:`pepr.training.energy_meters` and :mod:`pepr.training.meters`; their public
names stay importable from ``pepr.meters`` for one release."""

from pepr.training.energy_meters import *  # noqa: F403
from pepr.training.meters import *  # noqa: F403
