"""The download service's logs name the route, never the token in the address.

A link's token is the download's only credential (``/d/<token>``, ``?token=`` on the status routes), and
uvicorn logs every request line, including its query string, in its access log and every WebSocket
handshake in its error log. Whoever reads the logs could otherwise download every file. This filter is
on both of uvicorn's handlers (so on every record they print, whichever logger it came from): each path
becomes its route, ``/d/{token}/file``, and a query string is dropped, except that its parameter names
are kept so the log still says that a token was sent.
"""

from __future__ import annotations

import copy
import logging
import re

from uvicorn.config import LOGGING_CONFIG

_LINK_PATH = re.compile(r"/d/[^/?#\s\"']+")
_QUERY = re.compile(r"\?([^\s\"'#]*)")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")  # a token anywhere else in a message


def redact(text: str) -> str:
    """A path or message with every token replaced by its route's placeholder."""
    text = _LINK_PATH.sub("/d/{token}", text)
    text = _QUERY.sub(lambda m: "?" + "&".join(f"{part.split('=', 1)[0]}=…" for part in m[1].split("&") if part), text)
    return _JWT.sub("{token}", text)


class RedactTokens(logging.Filter):
    """Rewrites a record's message and string arguments in place (uvicorn's formatters read ``args``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


def log_config() -> dict:
    """uvicorn's own logging configuration with the filter on both of its handlers."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact_tokens": {"()": RedactTokens}}
    for handler in config["handlers"].values():
        handler["filters"] = ["redact_tokens"]
    return config
