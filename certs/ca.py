"""The mesh's local CA as a script: `python certs/ca.py issue|list|rotate [--dir DIR]`.

The same as `protomesh certs ...`; the work is done by protomesh_toolkit.certs.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from protomesh_toolkit.certs.cli import main

    raise SystemExit(main())
