"""Split into :mod:`pepr.data.zoo` (the table, read without timm) and
:mod:`pepr.training.nets` (the models as timm builds them); their public names stay importable
from ``pepr.zoo`` for one release."""

from pepr.data.zoo import *  # noqa: F403
from pepr.training.nets import *  # noqa: F403
