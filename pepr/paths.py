"""Moved to :mod:`pepr.core.paths`; ``pepr.paths`` stays, as the same module, for one release."""

import sys

from pepr.core import paths as _moved

sys.modules[__name__] = _moved
