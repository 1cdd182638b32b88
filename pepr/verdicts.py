"""Moved to :mod:`pepr.scoring.verdicts`; ``pepr.verdicts`` stays, as the same module, for one release."""

import sys

from pepr.scoring import verdicts as _moved

sys.modules[__name__] = _moved
