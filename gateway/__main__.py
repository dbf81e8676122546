from __future__ import annotations

import sys

from gateway.cli import render_main

raise SystemExit(render_main(sys.argv[1:]))
