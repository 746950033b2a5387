"""``python -m pytest_prodval.watch``: the same as ``prodval-watch``."""

from __future__ import annotations

import sys

from . import main

sys.exit(main())
