"""Split into :mod:`pepr.store.studies` (a study's file and its grid) and
:mod:`pepr.execution.sweep` (running it); their public names stay importable from
``pepr.sweep`` for one release."""

from pepr.execution.sweep import *  # noqa: F403
from pepr.store.studies import *  # noqa: F403
