"""The names one context's change capture uses, derived from the context alone.

Stable: consumers subscribe by them, and the slot and publication outlive
the worker process (renaming one would start a new slot from now and skip
whatever the old one still held).

>>> names = CaptureNames("order")
>>> names.slot, names.publication, names.stream.name, names.subject("orders")
('protomesh_cdc_order', 'protomesh_cdc_order', 'ORDER_CHANGES', 'order.changes.v1.orders')
"""

from __future__ import annotations

from dataclasses import dataclass

from protomesh.bus.streams import StreamSpec

# Re-publishes after a crash must land inside the stream's duplicate window;
# a worker down for longer re-delivers, and consumers drop by message id.
CHANGES_DUPLICATE_WINDOW = 3600.0


def changes_stream(context: str) -> StreamSpec:
    """The stream of one context's row changes: `ORDER_CHANGES` on `order.changes.>`."""
    return StreamSpec(
        f"{context.upper()}_CHANGES",
        (f"{context}.changes.>",),
        f"row changes of {context}'s tables, captured from the WAL",
        duplicate_window=CHANGES_DUPLICATE_WINDOW,
    )


@dataclass(frozen=True)
class CaptureNames:
    context: str

    @property
    def slot(self) -> str:
        return f"protomesh_cdc_{self.context.replace('-', '_')}"

    @property
    def publication(self) -> str:
        return self.slot

    @property
    def stream(self) -> StreamSpec:
        return changes_stream(self.context)

    def subject(self, table: str) -> str:
        return f"{self.context}.changes.v1.{table}"

    def message_id(self, commit_lsn: int, index: int) -> str:
        """The dedupe id of a change: its WAL position, the same on every re-publish.

        >>> CaptureNames("order").message_id(0x16B3748, 2)
        'protomesh_cdc_order:0/16B3748:2'
        """
        high, low = commit_lsn >> 32, commit_lsn & 0xFFFFFFFF
        return f"{self.slot}:{high:X}/{low:X}:{index}"
