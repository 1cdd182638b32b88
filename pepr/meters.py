"""Moved to :mod:`pepr.training.meters`; ``pepr.meters`` stays, as the same module, for one release."""

import sys

from pepr.training import meters as _moved

sys.modules[__name__] = _moved
