"""Moved to :mod:`pepr.core.settings`; ``pepr.settings`` stays, as the same module, for one release."""

import sys

from pepr.core import settings as _moved

sys.modules[__name__] = _moved
