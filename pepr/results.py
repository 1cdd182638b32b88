"""Moved to :mod:`pepr.store.results`; ``pepr.results`` stays, as the same module, for one release."""

import sys

from pepr.store import results as _moved

sys.modules[__name__] = _moved
