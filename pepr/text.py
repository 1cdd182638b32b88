"""Moved to :mod:`pepr.core.text`; ``pepr.text`` stays, as the same module, for one release."""

import sys

from pepr.core import text as _moved

sys.modules[__name__] = _moved
