"""The page around every view: navigation, styles and the few lines of refresh script.

The script only swaps in fresh copies of the sections marked `data-refresh`
every few seconds (never while a form inside has the focus), and says so in
a banner when the console stops answering; every page reads without it.
"""

from __future__ import annotations

from html import escape

REFRESH_MS = 2000

STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1f2328;background:#fff}
header{background:#24292f;color:#fff;padding:.5rem 1rem;display:flex;gap:1.5rem;align-items:center}
header a{color:#fff}header h1{font-size:1.1rem;margin:0}
main{padding:0 1rem 2rem}section{margin-top:1.2rem}
a{color:#0550ae}a:focus,button:focus,input:focus{outline:3px solid #bf8700;outline-offset:2px}
table{border-collapse:collapse;margin:.5rem 0}caption{text-align:left;color:#57606a}
th,td{border-bottom:1px solid #d0d7de;padding:.25rem .6rem;text-align:left;vertical-align:middle}
.state-healthy{color:#1a7f37;font-weight:600}
.state-unhealthy,.state-exited{color:#b42318;font-weight:600}
.stale{background:#fff8c5;border:1px solid #9a6700;padding:.3rem .6rem;color:#1f2328}
.fresh{color:#57606a;font-size:.9rem}.scroll{overflow-x:auto}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:.5rem;background:#fff;color:#000}
#offline{display:none}#offline.shown{display:block}
.bar{fill:#0969da}.bar.ERROR{fill:#b42318}
button{font:inherit;padding:.3rem .8rem}
"""

SCRIPT = f"""
(function () {{
  const banner = document.getElementById("offline");
  async function refresh() {{
    for (const part of document.querySelectorAll("[data-refresh]")) {{
      const focused = document.activeElement;
      if (focused !== document.body && part.contains(focused)) continue;
      try {{
        const reply = await fetch(part.dataset.refresh, {{cache: "no-store"}});
        if (!reply.ok) throw new Error(reply.status);
        part.innerHTML = await reply.text();
        banner.classList.remove("shown");
      }} catch (error) {{
        banner.textContent = "The console is not answering: what you see is from "
          + new Date(Number(banner.dataset.loaded)).toLocaleTimeString() + " or later.";
        banner.classList.add("shown");
      }}
    }}
    banner.dataset.loaded = banner.classList.contains("shown") ? banner.dataset.loaded : Date.now();
  }}
  banner.dataset.loaded = Date.now();
  setInterval(() => {{ if (!document.hidden) refresh(); }}, {REFRESH_MS});
}})();
"""


def page(title: str, body: str, *, refresh: bool = False) -> str:
    script = f"<script>{SCRIPT}</script>" if refresh else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · protomesh console</title>"
        f'<link rel="icon" href="data:,"><style>{STYLE}</style></head><body>'
        '<a class="skip" href="#main">Skip to content</a>'
        '<header><h1>protomesh console</h1><nav aria-label="Views">'
        '<a href="/">Overview</a> · <a href="/traces">Traces</a> · '
        '<a href="/dead-letters">Dead letters</a></nav></header>'
        f'<main id="main"><p id="offline" class="stale" role="alert"></p>{body}</main>'
        f"{script}</body></html>"
    )


def section(identifier: str, heading: str, content: str, refresh: str | None = None) -> str:
    attribute = f' data-refresh="{escape(refresh)}"' if refresh else ""
    return (
        f'<section aria-labelledby="{identifier}-h"><h2 id="{identifier}-h">{escape(heading)}'
        f'</h2><div id="{identifier}"{attribute} aria-live="off">{content}</div></section>'
    )
