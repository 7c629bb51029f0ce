"""``python -m phylolm_harness``."""

import sys

from phylolm_harness.cli import main

sys.exit(main())
