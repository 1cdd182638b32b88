"""Moved to :mod:`pepr.scoring.analysis`; ``pepr.analysis`` stays, as the same module, for one release."""

import sys

from pepr.scoring import analysis as _moved

sys.modules[__name__] = _moved
