from __future__ import annotations

from protomesh.topology.cli import main

raise SystemExit(main())
