"""Moved to :mod:`pepr.scoring.energy`; ``pepr.energy`` stays, as the same module, for one release."""

import sys

from pepr.scoring import energy as _moved

sys.modules[__name__] = _moved
