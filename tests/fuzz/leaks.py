"""What an error a client sees must never hold: a stack trace, a source path, an exception class.

A reply may echo what the client sent (a display name of `x.py` comes back
as it went), so a match that the request itself holds is not a leak.
"""

from __future__ import annotations

import re

LEAK = re.compile(
    r"Traceback \(most recent call last\)"
    r"|File \"[^\"]+\", line \d+"
    r"|[\w./-]+\.py\b"
    r"|site-packages|/usr/lib/python"
    r"|\b(?:[a-z_]+\.)*[A-Z]\w*(?:Error|Exception)\b"
)


def leaks(text: str, sent: str = "") -> list[str]:
    """The leaking fragments of `text` that are not part of `sent`."""
    return [match.group(0) for match in LEAK.finditer(text) if match.group(0) not in sent]
