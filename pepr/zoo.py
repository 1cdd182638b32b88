"""Moved to :mod:`pepr.data.zoo`; ``pepr.zoo`` stays, as the same module, for one release."""

import sys

from pepr.data import zoo as _moved

sys.modules[__name__] = _moved
