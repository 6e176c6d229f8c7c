"""`python3 -m ferryman ...` is the `ferryman` command (the operator image's entrypoint)."""

import sys

from ferryman.cli import main

sys.exit(main())
