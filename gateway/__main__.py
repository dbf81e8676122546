from __future__ import annotations

import sys

from gateway.cli import main

raise SystemExit(main(sys.argv[1:]))
