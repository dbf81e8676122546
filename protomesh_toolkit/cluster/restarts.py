"""When the supervisor restarts a component that exited, and when it gives up.

A component that dies once is restarted at once: a kill -9 or an OOM should
cost seconds, not minutes. One that keeps dying is restarted after a growing
pause (so a crash loop does not eat the machine), and after `limit` restarts
within `window` seconds it is marked failed and left down: restarting a
component that cannot start only hides the reason in a flood of log lines.
`protomesh up` starts a failed component again, with a fresh budget.
"""

from __future__ import annotations

import signal
from collections import deque
from dataclasses import dataclass, field

RESTART_LIMIT = 5
RESTART_WINDOW = 60.0  # seconds
FIRST_PAUSE = 0.5  # seconds before the second restart within the window
MAX_PAUSE = 8.0


@dataclass
class RestartBudget:
    """The restarts of one component within the last `window` seconds."""

    limit: int = RESTART_LIMIT
    window: float = RESTART_WINDOW
    recent: deque[float] = field(default_factory=deque)

    def _forget_before(self, now: float) -> None:
        while self.recent and now - self.recent[0] > self.window:
            self.recent.popleft()

    def exhausted(self, now: float) -> bool:
        """Whether the component has used up its restarts: mark it failed."""
        self._forget_before(now)
        return len(self.recent) >= self.limit

    def pause(self, now: float) -> float:
        """Seconds to wait before the next restart: none for the first in the window."""
        self._forget_before(now)
        if not self.recent:
            return 0.0
        return min(FIRST_PAUSE * 2.0 ** (len(self.recent) - 1), MAX_PAUSE)

    def spend(self, now: float) -> None:
        self.recent.append(now)


def exit_reason(returncode: int | None) -> str:
    """A Popen returncode as a person would say it; None when it was not our child."""
    if returncode is None:
        return "exited (not started by this supervisor: exit status unknown)"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"exited with code {returncode}"
