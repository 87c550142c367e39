"""The shapes of the API's answers, for its OpenAPI schema (clients generated from it get typed results).

What a route returns is checked against these by FastAPI before it is sent: a field added to a view must be
added here, or it is left out of the answer.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Progress(BaseModel):
    percent: int = Field(description="One percentage over the whole export.")
    rows: int | None = Field(None, description="Rows done so far.")
    phase: str = Field(description="queued, started, progress (reading), rendering, uploaded, succeeded.")


class ExportError(BaseModel):
    reason: str = Field(description="What went wrong, in words from the failed step; never a traceback.")
    what_to_do: str


class Export(BaseModel):
    """One export of the caller's."""

    id: str = Field(description="The export's id (its Dagster run id).")
    status: Literal["queued", "running", "succeeded", "failed", "canceled"]
    dataset: str | None = None
    format: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    submitted_via: str | None = Field(None, description="api, webserver, cli, sensor:..., schedule:...")
    acted_by: str | None = Field(None, description="The admin who created it for its owner, if one did.")
    progress: Progress | None = None
    rows: int | None = None
    bytes: int | None = None
    rows_withheld: bool | None = Field(None, description="Whether the caller's grants withheld rows; never how many.")
    rows_withheld_band: str | None = Field(None, description="A coarse band, where the deployment allows it.")
    error: ExportError | None = None
    download_url: str | None = Field(None, description="A fresh download link, once succeeded.")
    expires_at: str | None = Field(None, description="When the file is deleted.")
    skipped: str | None = Field(
        None, description="Why a succeeded export has no file: a subscription's tick without rows (skip_if_empty)."
    )
    status_url: str
    events_url: str | None = Field(None, description="WebSocket of live events (a status token in it).")
    page_url: str | None = Field(None, description="The export's page: progress, then the download.")


class ExportList(BaseModel):
    items: list[Export]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last page.")


class Link(BaseModel):
    url: str
    expires_at: str


class Estimate(BaseModel):
    rows: int = Field(description="Rows the caller would get.")
    bytes: int = Field(description="Estimated size before compression.")
    seconds: float = Field(description="Rough time from submission to file.")
    file_extension: str
