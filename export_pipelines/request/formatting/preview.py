"""The display rules of a template alone, over a dataset's columns: what ``template preview`` renders with.

The command line hands this function to the preview (``reports`` cannot reach up to the request's
checks), and imports nothing heavy until it runs.
"""

from __future__ import annotations


def template_display(layer, dataset: str, timezone: str):
    """``layer`` (a template's ``DisplayLayer``) checked as an export of every column of ``dataset`` would be."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from export_pipelines.datasets.catalog import load_catalog
    from export_pipelines.request.formatting.check import check_display
    from export_pipelines.request.limits import Limits
    from export_pipelines.request.model import ExportRequest
    from export_pipelines.source.values import coerce_value

    spec = load_catalog().dataset(dataset)
    request = ExportRequest(user="template-author", dataset=dataset, format="pdf", timezone=timezone)
    return check_display(request, spec, tuple(spec.column_names), layer, ZoneInfo(timezone), datetime.now(UTC),
                         Limits.from_env(), coerce_value)  # fmt: skip
