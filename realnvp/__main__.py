"""``python -m realnvp ...``: see :mod:`realnvp.cli`."""

import sys

from realnvp.cli import main

sys.exit(main())
