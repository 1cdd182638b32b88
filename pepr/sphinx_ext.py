"""Moved to :mod:`pepr.reporting.sphinx_ext`; ``pepr.sphinx_ext`` stays, as the same module, for one release."""

import sys

from pepr.reporting import sphinx_ext as _moved

sys.modules[__name__] = _moved
