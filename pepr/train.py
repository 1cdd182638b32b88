"""Moved to :mod:`pepr.training.train`; ``pepr.train`` stays, as the same module, for one release."""

import sys

from pepr.training import train as _moved

sys.modules[__name__] = _moved
