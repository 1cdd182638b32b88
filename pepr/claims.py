"""Moved to :mod:`pepr.reporting.claims`; ``pepr.claims`` stays, as the same module, for one release."""

import sys

from pepr.reporting import claims as _moved

sys.modules[__name__] = _moved
