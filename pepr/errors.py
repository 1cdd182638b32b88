"""Moved to :mod:`pepr.core.errors`; ``pepr.errors`` stays, as the same module, for one release."""

import sys

from pepr.core import errors as _moved

sys.modules[__name__] = _moved
