"""Moved to :mod:`pepr.core.sources`; ``pepr.sources`` stays, as the same module, for one release."""

import sys

from pepr.core import sources as _moved

sys.modules[__name__] = _moved
