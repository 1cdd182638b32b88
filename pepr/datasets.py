"""Split into :mod:`pepr.data.images`, :mod:`pepr.data.paper`, :mod:`pepr.data.files`,
:mod:`pepr.data.folders`, :mod:`pepr.data.registry` and :mod:`pepr.training.tensors`; their
public names stay importable from ``pepr.datasets`` for one release."""

from pepr.data.files import *  # noqa: F403
from pepr.data.folders import *  # noqa: F403
from pepr.data.images import *  # noqa: F403
from pepr.data.paper import *  # noqa: F403
from pepr.data.registry import *  # noqa: F403
from pepr.training.tensors import *  # noqa: F403
