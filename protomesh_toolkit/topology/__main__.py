from __future__ import annotations

from protomesh_toolkit.topology.cli import main

raise SystemExit(main())
