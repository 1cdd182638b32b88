"""Moved to :mod:`pepr.scoring.score`; ``pepr.score`` stays, as the same module, for one release."""

import sys

from pepr.scoring import score as _moved

sys.modules[__name__] = _moved
