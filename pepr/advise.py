"""Moved to :mod:`pepr.advice.advise`; ``pepr.advise`` stays, as the same module, for one release."""

import sys

from pepr.advice import advise as _moved

sys.modules[__name__] = _moved
