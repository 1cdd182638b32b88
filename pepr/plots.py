"""Moved to :mod:`pepr.reporting.plots`; ``pepr.plots`` stays, as the same module, for one release."""

import sys

from pepr.reporting import plots as _moved

sys.modules[__name__] = _moved
