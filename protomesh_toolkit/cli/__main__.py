from __future__ import annotations

from protomesh_toolkit.cli import main

raise SystemExit(main())
