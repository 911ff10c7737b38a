"""``python -m benchmarks`` (``make bench``): run every benchmark, print the table, exit 1 if a
target is missed; ``--quick`` for a smoke run ten times smaller."""

import sys

from .runner import main

sys.exit(main())
