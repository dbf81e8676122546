"""The trace waterfall and the dead letters, with the replay's confirmation step."""

from __future__ import annotations

from html import escape

from protomesh_toolkit.console.dead_letters import DeadLetter, Replayed
from protomesh_toolkit.console.trace_lookup import Bar

WATERFALL_WIDTH = 520


def search_form(query: str = "") -> str:
    return (
        '<form method="get" action="/traces" role="search"><label for="q">Trace id or '
        f'request id</label> <input id="q" name="q" size="40" value="{escape(query)}" '
        'autocomplete="off"> <button type="submit">Find</button></form>'
    )


def waterfall(trace_id: str, bars: list[Bar]) -> str:
    total = max((bar.offset_ms + bar.duration_ms for bar in bars), default=0.0) or 1.0
    rows = []
    for bar in bars:
        span = bar.span
        left = WATERFALL_WIDTH * bar.offset_ms / total
        width = max(2.0, WATERFALL_WIDTH * bar.duration_ms / total)
        status = "" if span["status"] == "UNSET" else span["status"]
        chart = (
            f'<svg width="{WATERFALL_WIDTH}" height="14" role="img" aria-label="starts at '
            f'{bar.offset_ms:.1f} ms, lasts {bar.duration_ms:.1f} ms">'
            f'<rect class="bar {escape(status)}" x="{left:.1f}" y="2" width="{width:.1f}" '
            'height="10"/></svg>'
        )
        indent = f"padding-left:{0.3 + bar.depth * 1.1:.1f}rem"
        rows.append(
            f'<tr class="span" data-service="{escape(span["service"])}" '
            f'data-name="{escape(span["name"])}"><td>{escape(span["service"])}</td>'
            f'<th scope="row" style="{indent}">{escape(span["name"])}</th>'
            f"<td>{escape(span['kind'])}</td><td>{escape(status)}</td>"
            f"<td>{bar.offset_ms:.1f}</td><td>{bar.duration_ms:.1f}</td><td>{chart}</td></tr>"
        )
    return (
        f'<h2>Trace <code id="trace-id">{escape(trace_id)}</code></h2>'
        f"<p>{len(bars)} spans over {total:.1f} ms, each under its parent, in start order.</p>"
        '<div class="scroll"><table id="waterfall"><thead><tr><th scope="col">Service</th>'
        '<th scope="col">Span</th><th scope="col">Kind</th><th scope="col">Status</th>'
        '<th scope="col">Start (ms)</th><th scope="col">Duration (ms)</th>'
        f'<th scope="col">Timeline</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
    )


def dead_letter_table(letters: list[DeadLetter]) -> str:
    if not letters:
        return "<p>No dead letters: no consumer has parked a message.</p>"
    rows = "".join(
        f'<tr data-sequence="{letter.sequence}"><th scope="row">{letter.sequence}</th>'
        f"<td><code>{escape(letter.subject)}</code></td><td>{escape(letter.consumer)}</td>"
        f'<td class="reason">{escape(letter.reason)}</td><td>{escape(letter.deliveries)}</td>'
        f"<td>{escape(letter.event_type) or '-'}</td><td>{_when(letter)}</td>"
        f'<td><form method="post" action="/dead-letters/{letter.sequence}/replay">'
        f'<button type="submit">Replay {letter.sequence}…</button></form></td></tr>'
        for letter in letters
    )
    return (
        '<table id="dead-letters"><caption>Newest first</caption><thead><tr>'
        '<th scope="col">#</th><th scope="col">Original subject</th><th scope="col">Consumer'
        '</th><th scope="col">Reason</th><th scope="col">Deliveries</th><th scope="col">'
        'Event type</th><th scope="col">Parked</th><th scope="col">Action</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


def _when(letter: DeadLetter) -> str:
    return "-" if letter.parked_at is None else letter.parked_at.strftime("%Y-%m-%d %H:%M:%S")


def confirm_replay(letter: DeadLetter, token: str) -> str:
    return (
        f"<h2>Replay dead letter {letter.sequence}?</h2>"
        f"<p>This publishes its {letter.size} bytes again to <code>{escape(letter.subject)}"
        f"</code> with the original headers (event id <code>{escape(letter.event_id)}</code>) "
        "and a new message id, then removes it from the dead letters. Consumers that already "
        "handled this event skip it; the one that parked it tries again.</p>"
        f"<p>Parked by <strong>{escape(letter.consumer)}</strong> because: "
        f"{escape(letter.reason)}</p>"
        f'<form method="post" action="/dead-letters/{letter.sequence}/replay">'
        f'<input type="hidden" name="confirm" value="{escape(token)}">'
        '<button type="submit" id="confirm-replay" autofocus>Yes, replay it</button> '
        '<a href="/dead-letters">Cancel</a></form>'
    )


def replayed(outcome: Replayed) -> str:
    what = "was already there (a repeated replay)" if outcome.duplicate else "landed"
    return (
        f'<p role="status" id="replayed">Dead letter {outcome.letter.sequence} replayed to '
        f"<code>{escape(outcome.letter.subject)}</code>: it {what} on stream "
        f"{escape(outcome.stream)} at sequence {outcome.stream_sequence}.</p>"
    )
