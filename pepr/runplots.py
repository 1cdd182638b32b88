"""Moved to :mod:`pepr.reporting.runplots`; ``pepr.runplots`` stays, as the same module, for one release."""

import sys

from pepr.reporting import runplots as _moved

sys.modules[__name__] = _moved
