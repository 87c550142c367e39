"""Search: one text matched, case-insensitively, against every column the catalog marks ``searchable``.

``search: acme`` keeps a row when any searchable column contains "acme" in any letter case. The
text is bound as a parameter; ``%``, ``_`` and the escape character in it are escaped, so it is
matched literally. Both sides are lowered by the database: PostgreSQL's ``lower`` follows the
database's character type (Unicode case mapping with a UTF-8 locale), and SQLite's is replaced on
the deployment's connections by Python's ``str.lower`` (see ``source.engine``), so SQLite and
PostgreSQL match the same rows.

A dataset may instead declare ``fulltext: <text search configuration>`` (``english``, ``simple``):
on PostgreSQL the searchable columns are then matched as one document with ``to_tsvector`` and
``websearch_to_tsquery`` (words, stemming, ``"quoted phrases"``, ``-excluded``), which an expression
index makes fast (README, Search). Other databases keep the substring match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa

from export_pipelines.datasets.catalog import DatasetSpec
from export_pipelines.errors import ExportRequestError

FULLTEXT_CONFIG = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_ESCAPE = "/"


@dataclass(frozen=True)
class Search:
    """A checked search: the text, the columns it looks in, and the full-text configuration if any."""

    text: str
    columns: tuple[str, ...]
    fulltext: str | None = None

    def describe(self) -> str:
        return f"search {self.text!r} in {', '.join(self.columns)}"


def check_search(text: object, dataset: DatasetSpec, max_length: int, length_hint: str) -> Search | None:
    """The request's ``search`` checked: text without NUL, not blank, at most ``max_length`` characters."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise ExportRequestError("search", f"{type(text).__name__} is not text", "the text to look for")
    if "\x00" in text:
        raise ExportRequestError("search", "the value contains a NUL byte (\\x00)", "text without NUL bytes")
    if not text.strip():
        raise ExportRequestError("search", "is blank", "the text to look for, or leave search out")
    if len(text) > max_length:
        raise ExportRequestError("search", f"{len(text):,} characters is too long", length_hint)
    columns = tuple(name for name, column in dataset.columns.items() if column.searchable)
    if not columns:
        raise ExportRequestError(
            "search", f"dataset {dataset.name!r} has no searchable columns",
            "leave search out and filter with where or filters; the catalog marks columns searchable",
        )
    return Search(text.strip(), columns, dataset.fulltext)


def search_clause(search: Search, table: sa.TableClause, dialect: str):
    """The SQL predicate of ``search``: full text on PostgreSQL when configured, else a case-insensitive substring."""
    if search.fulltext and dialect == "postgresql":
        return fulltext_document(table, search).bool_op("@@")(
            sa.func.websearch_to_tsquery(_config(search.fulltext), sa.bindparam(None, search.text, sa.Text()))
        )
    escaped = search.text.replace(_ESCAPE, _ESCAPE * 2).replace("%", f"{_ESCAPE}%").replace("_", f"{_ESCAPE}_")
    pattern = sa.func.lower(sa.bindparam(None, f"%{escaped}%", sa.Text()))
    return sa.or_(*(sa.func.lower(table.c[name]).like(pattern, escape=_ESCAPE) for name in search.columns))


def fulltext_document(table: sa.TableClause, search: Search):
    """``to_tsvector('<config>', coalesce(a, '') || ' ' || coalesce(b, '') ...)``: the expression the index must repeat.

    The configuration is written into the SQL, not bound: a bound one would not match the index's
    expression. It comes from the catalog (the deployment's file) and is checked to be a plain name.
    """
    parts = []
    for name in search.columns:
        if parts:
            parts.append(sa.literal_column("' '"))
        parts.append(sa.func.coalesce(table.c[name], sa.literal_column("''")))
    document = parts[0]
    for part in parts[1:]:
        document = document.op("||")(part)
    return sa.func.to_tsvector(_config(search.fulltext), document)


def _config(name: str):
    if not FULLTEXT_CONFIG.match(name):  # the catalog refuses it already; never splice anything else
        raise ValueError(f"{name!r} is not a text search configuration name")
    return sa.literal_column(f"'{name}'::regconfig")
