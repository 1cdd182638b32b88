"""Moved to :mod:`pepr.store.runspec`; ``pepr.runspec`` stays, as the same module, for one release."""

import sys

from pepr.store import runspec as _moved

sys.modules[__name__] = _moved
