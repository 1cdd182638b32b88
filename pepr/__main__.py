"""``python -m pepr`` is the ``pepr`` command."""

import sys

from pepr.cli import main

sys.exit(main())
