"""The HTML a browser sees: the export's page with its download button, and the refusal pages.

Every value is escaped (``html.escape``), datasets, titles and filters included: they come from
requests people type. Pages load nothing from elsewhere (inline style; no script, except the progress
page's one, served by the service itself at SCRIPT_PATH), so the Content-Security-Policy can forbid
everything else, and they say exactly how many rows the file has, but only *whether* rows were
withheld, never how many: that count describes data the user may not see.
"""

from __future__ import annotations

import json
from datetime import datetime
from html import escape

from export_pipelines.delivery.exports import DownloadableExport
from export_pipelines.delivery.refusals import Refusal
from export_pipelines.notifiers.email_message import human_size

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the link is the credential: never send it on to another site
    "Cache-Control": "private, no-store",
}
# The progress page runs one script, the service's own, and talks only to the service (ws:, wss:, https:).
LIVE_SECURITY_HEADERS = {
    **SECURITY_HEADERS,
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
}
SCRIPT_PATH = "/static/live.js"
_NEXT_STEP = {
    "expired": "Ask the person who shared it for a new link, or re-run the export if the file itself has expired.",
    "revoked": "The export was withdrawn. Ask its owner or an administrator whether a new export is needed.",
    "deleted": "The file was removed from storage. Re-run the export to produce a new file.",
    "unknown": "Check that the whole link was copied, or ask for a new link.",
    "invalid": "Check that the whole link was copied, or ask for a new link.",
    "wrong_audience": "Use the download link you were sent, not another token.",
    "login_required": "Sign in to the application, then open the link again.",
    "forbidden": "Sign in as the person the export belongs to, or ask them to share it.",
    "unreadable": "Re-run the export; if this keeps happening, tell the administrators.",
    "failed": "Correct what the message names and run the export again, or ask an administrator.",
}
_STYLE = """
body{font-family:system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem;color:#222}
dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.4rem 1.2rem}dt{color:#666}dd{margin:0}
dd,code,.download{overflow-wrap:anywhere}
.notice{background:#fff6d6;border-left:4px solid #e0b000;padding:.6rem .8rem}
.download{display:inline-block;margin-top:1.5rem;padding:.7rem 1.4rem;background:#0b5ed7;color:#fff;
text-decoration:none;border-radius:4px}.reason{color:#666;font-size:.9rem}
progress{width:100%;height:1.2rem}[hidden]{display:none}
"""


def export_page(
    export: DownloadableExport, token: str, href: str | None = None, link_expires: datetime | None = None
) -> str:
    """The facts and the button; ``href`` (relative to ``/d/``) is the file, or the signer's redirect.

    Facts are named and written as the export's mail writes them (format in capitals, sizes in KiB/MiB),
    and both ends are shown: when this link stops working, and when the file itself is deleted.
    """
    heading = export.title or export.dataset or "Export"
    facts = [
        ("Dataset", export.dataset),
        ("Title", export.title),
        ("Format", export.format.upper() if export.format else None),
        ("Rows", f"{export.rows:,}" if export.rows is not None else None),
        ("Size", _size(export.size)),
        ("Created", _when(export.created_at)),
        ("Link expires", _when(link_expires)),
        ("File expires", _when(export.expires_at)),
        ("Filters", export.filters or "none"),
        ("File", export.file_name),
    ]
    rows = "\n".join(f"<dt>{escape(name)}</dt><dd data-fact=\"{_fact_id(name)}\">{escape(value)}</dd>"
                     for name, value in facts if value)  # fmt: skip
    notice = (
        '<p class="notice" id="withheld">Some rows were withheld because of your permissions.</p>'
        if export.rows_withheld
        else ""
    )
    body = f"""<h1>{escape(heading)}</h1>
<dl>
{rows}
</dl>
{notice}
<a class="download" id="download" href="{escape(href or token + "/file")}" download>Download {escape(export.file_name)}
</a>
<p class="reason">SHA-256: <code id="sha256">{escape(export.sha256)}</code></p>"""
    return _document(heading, body)


def progress_page(run_id: str, token: str, state: dict) -> str:
    """An export still running: a bar the served script moves, then the download button in its place."""
    percent = int(state.get("overall") or 0)
    body = f"""<h1 id="heading">Your export is being prepared</h1>
<main id="live" data-run="{escape(run_id)}" data-token="{escape(token)}" data-cursor="{escape(state["cursor"])}">
<p id="stage">{escape(_STAGES.get(state["state"], "Working"))}</p>
<progress id="progress" max="100" value="{percent}">{percent}%</progress>
<p class="reason"><span id="percent">{percent}</span>% <span id="rows"></span> <span id="left"></span></p>
<p id="failure" class="notice" hidden></p>
<a class="download" id="download" href="#" hidden>Download</a>
</main>
<script src="{SCRIPT_PATH}"></script>"""
    return _document("Export in progress", body)


_STAGES = {"queued": "Waiting to start", "started": "Started", "progress": "Reading the rows",
           "rendering": "Writing the file", "uploaded": "Storing the file", "succeeded": "Ready"}  # fmt: skip
# Over the WebSocket, resuming with after=<cursor> when the connection drops; polling the JSON status
# after three failed connections. No framework, no other origin: CSP allows this file and 'self' only.
LIVE_SCRIPT = """(function () {
  var root = document.getElementById("live"), run = root.dataset.run, token = root.dataset.token;
  var cursor = root.dataset.cursor, failures = 0, done = false;
  var stages = __STAGES__, first = null;
  function left(overall) {
    // Time left from the pace since this page first saw the export move: elapsed * (rest / done so far).
    var now = Date.now();
    if (first === null) { first = {at: now, overall: overall}; return ""; }
    var gained = overall - first.overall, seconds = (now - first.at) / 1000;
    if (gained <= 0 || seconds < 2 || overall >= 100) return "";
    var rest = Math.round(seconds * (100 - overall) / gained);
    return rest < 60 ? "about " + rest + " s left" : "about " + Math.round(rest / 60) + " min left";
  }
  function show(e) {
    if (e.cursor) cursor = e.cursor;
    document.getElementById("stage").textContent = stages[e.event] || e.event;
    if (typeof e.overall === "number") {
      document.getElementById("progress").value = e.overall;
      document.getElementById("percent").textContent = e.overall;
      document.getElementById("left").textContent = left(e.overall);
    }
    if (typeof e.rows === "number") {
      document.getElementById("rows").textContent = "(" + e.rows.toLocaleString() +
        (e.planned ? " of " + e.planned.toLocaleString() : "") + " rows)";
    }
    if (e.event === "succeeded" || e.state === "succeeded") {
      done = true;
      var button = document.getElementById("download");
      button.href = e.download; button.hidden = false; button.setAttribute("download", "");
      document.getElementById("progress").value = 100; document.getElementById("percent").textContent = 100;
      document.getElementById("heading").textContent = "Your export is ready";
      document.getElementById("left").textContent = "";
    } else if (e.event === "failed" || e.state === "failed") {
      done = true;
      var failure = document.getElementById("failure");
      failure.textContent = e.reason; failure.hidden = false;
      document.getElementById("heading").textContent = "Your export could not be made";
      document.getElementById("left").textContent = "";
    }
  }
  function poll() {
    if (done) return;
    fetch("/exports/" + run + "/status?token=" + encodeURIComponent(token), {cache: "no-store"})
      .then(function (r) { return r.json(); })
      .then(function (s) { s.event = s.state; show(s); })
      .finally(function () { if (!done) setTimeout(poll, 2000); });
  }
  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + "/exports/" + run + "/events?token=" +
      encodeURIComponent(token) + "&after=" + encodeURIComponent(cursor));
    socket.onopen = function () { failures = 0; };
    socket.onmessage = function (m) { show(JSON.parse(m.data)); };
    socket.onclose = function () {
      if (done) return;
      failures += 1;
      if (failures >= 3) poll(); else setTimeout(connect, 1000);
    };
  }
  connect();
})();
""".replace("__STAGES__", json.dumps(_STAGES))


def refusal_page(refusal: Refusal) -> str:
    next_step = _NEXT_STEP.get(refusal.reason, "Ask for a new link.")
    body = f"""<h1>{escape(refusal.title)}</h1>
<p id="message">{escape(refusal.message)}</p>
<p id="next-step">{escape(next_step)}</p>
<p class="reason">Status {refusal.status}: <span id="reason">{escape(refusal.reason)}</span></p>"""
    return _document(refusal.title, body)


def _document(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>{escape(title)}</title><style>{_STYLE}</style></head>
<body>
{body}
</body></html>
"""


def _size(size: int) -> str:
    return f"{size:,} bytes" if size < 1024 else f"{human_size(size)} ({size:,} bytes)"


def _fact_id(name: str) -> str:
    return name.lower().replace(" ", "-")


def _when(moment: datetime | None) -> str | None:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else None
