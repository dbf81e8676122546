"""One package per bounded context. Services never import each other."""
