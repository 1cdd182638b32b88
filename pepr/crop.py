"""Moved to :mod:`pepr.training.crop`; ``pepr.crop`` stays, as the same module, for one release."""

import sys

from pepr.training import crop as _moved

sys.modules[__name__] = _moved
