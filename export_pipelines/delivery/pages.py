"""The HTML a browser sees: the export's page with its download button, and the refusal pages.

Every value is escaped (``html.escape``), datasets, titles and filters included: they come from
requests people type. Pages load nothing from elsewhere (inline style, no script), so the
Content-Security-Policy can forbid everything else, and they say exactly how many rows the file has,
but only *whether* rows were withheld, never how many: that count describes data the user may not see.
"""

from __future__ import annotations

from datetime import datetime
from html import escape

from export_pipelines.delivery.exports import DownloadableExport
from export_pipelines.delivery.refusals import Refusal

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the link is the credential: never send it on to another site
    "Cache-Control": "private, no-store",
}
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
}
_STYLE = """
body{font-family:system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem;color:#222}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.4rem 1.2rem}dt{color:#666}dd{margin:0}
.notice{background:#fff6d6;border-left:4px solid #e0b000;padding:.6rem .8rem}
.download{display:inline-block;margin-top:1.5rem;padding:.7rem 1.4rem;background:#0b5ed7;color:#fff;
text-decoration:none;border-radius:4px}.reason{color:#666;font-size:.9rem}
"""


def export_page(export: DownloadableExport, token: str) -> str:
    heading = export.title or export.dataset or "Export"
    facts = [
        ("Dataset", export.dataset),
        ("Title", export.title),
        ("Format", export.format),
        ("Rows", f"{export.rows:,}" if export.rows is not None else None),
        ("Size", _size(export.size)),
        ("Created", _when(export.created_at)),
        ("Expires", _when(export.expires_at)),
        ("Filters", export.filters or "none"),
        ("File", export.file_name),
    ]
    rows = "\n".join(f"<dt>{escape(name)}</dt><dd data-fact=\"{escape(name.lower())}\">{escape(value)}</dd>"
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
<a class="download" id="download" href="{escape(token)}/file" download>Download {escape(export.file_name)}</a>
<p class="reason">SHA-256: <code>{escape(export.sha256)}</code></p>"""
    return _document(heading, body)


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
    value, unit = float(size), "bytes"
    for larger in ("KB", "MB", "GB", "TB"):
        if value < 1000:
            break
        value, unit = value / 1000, larger
    shown = f"{size:,} bytes" if unit == "bytes" else f"{value:.1f} {unit} ({size:,} bytes)"
    return shown


def _when(moment: datetime | None) -> str | None:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else None
