from __future__ import annotations

from protomesh_toolkit.console.server import main

raise SystemExit(main())
