"""Moved to :mod:`pepr.reporting.render`; ``pepr.render`` stays, as the same module, for one release."""

import sys

from pepr.reporting import render as _moved

sys.modules[__name__] = _moved
