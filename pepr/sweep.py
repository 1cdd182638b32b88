"""Moved to :mod:`pepr.execution.sweep`; ``pepr.sweep`` stays, as the same module, for one release."""

import sys

from pepr.execution import sweep as _moved

sys.modules[__name__] = _moved
