"""Moved to :mod:`pepr.core.locks`; ``pepr.locks`` stays, as the same module, for one release."""

import sys

from pepr.core import locks as _moved

sys.modules[__name__] = _moved
