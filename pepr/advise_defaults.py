"""Moved to :mod:`pepr.advice.defaults`; ``pepr.advise_defaults`` stays, as the same module, for one release."""

import sys

from pepr.advice import defaults as _moved

sys.modules[__name__] = _moved
