"""Moved to :mod:`pepr.reporting.book`; ``pepr.book`` stays, as the same module, for one release."""

import sys

from pepr.reporting import book as _moved

sys.modules[__name__] = _moved
