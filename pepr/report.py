"""Moved to :mod:`pepr.reporting.report`; ``pepr.report`` stays, as the same module, for one release."""

import sys

from pepr.reporting import report as _moved

sys.modules[__name__] = _moved
