"""``python -m stripes.cli``: the ``stripes`` command."""

import sys

from stripes.cli import main

sys.exit(main())
