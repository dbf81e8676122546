"""The reporting context: read models built from other contexts' events (pattern 14)."""
