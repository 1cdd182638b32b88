"""Split into :mod:`pepr.reporting.report`, :mod:`pepr.reporting.comparisons` and
:mod:`pepr.reporting.findings`; their public names stay importable from ``pepr.report`` for one
release."""

from pepr.reporting.comparisons import *  # noqa: F403
from pepr.reporting.findings import *  # noqa: F403
from pepr.reporting.report import *  # noqa: F403
