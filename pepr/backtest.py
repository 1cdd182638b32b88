"""Moved to :mod:`pepr.advice.backtest`; ``pepr.backtest`` stays, as the same module, for one release."""

import sys

from pepr.advice import backtest as _moved

sys.modules[__name__] = _moved
