"""Moved to :mod:`pepr.data.release`; ``pepr.release`` stays, as the same module, for one release."""

import sys

from pepr.data import release as _moved

sys.modules[__name__] = _moved
