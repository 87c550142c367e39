"""PDF: a paginated report drawn with reportlab, styled by a YAML template (see export_pipelines.reports).

Rows are cut into ranges of pages as chunks arrive; the ranges are drawn in worker processes, one
page at a time, and joined at the end (``reports.parallel_report``). "Page N of M" and the row
count are PDF forms filled in at the end, so nothing waits for the whole data set.
"""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa

from export_pipelines.display.styles import DisplayLayer
from export_pipelines.errors import ExportRequestError
from export_pipelines.formats.base import Renderer
from export_pipelines.reports.document import report_facts
from export_pipelines.reports.parallel_report import RANGE_ROWS, ParallelReport
from export_pipelines.reports.template import ReportTemplate, TemplateError
from export_pipelines.reports.template_files import load_template
from export_pipelines.reports.template_owners import owner_refusal


class PdfRenderer(Renderer):
    """A PDF report: title, generation time and filters first, the table with its header on every page,
    "Page N of M" and the export id in the footer, optional totals; landscape when the columns need it."""

    name = "pdf"
    extension = "pdf"
    media_type = "application/pdf"
    # reportlab keeps every (compressed) page of a range until it writes the range's file; ranges are
    # joined from disk. Validation can refuse larger exports up front with this number.
    max_rows: ClassVar[int] = 200_000
    range_rows: ClassVar[int] = RANGE_ROWS  # rows of a page range drawn by one worker process
    workers: ClassVar[int | None] = None  # processes drawing ranges; None: one per core
    options = {
        "template": (
            "default",
            "Report template: a shipped name such as 'default', a name in $EXPORT_REPORT_TEMPLATE_DIR, "
            "or a path relative to those folders such as 'finance/monthly.yaml' (no absolute paths or '..').",
        ),
    }

    @classmethod
    def validate_settings(cls, settings):
        cls.template(settings)

    @classmethod
    def check_requester(cls, given, user):
        spec = given.get("template")
        refusal = owner_refusal(spec, user) if isinstance(spec, str) else None
        if refusal:
            raise ExportRequestError("format_options.template", refusal, "your own, your team's or a shipped template")

    @classmethod
    def check_columns(cls, settings, columns):
        try:
            cls.template(settings).check_columns(tuple(columns))
        except TemplateError as error:
            raise ExportRequestError("format_options.template", str(error)) from None

    @classmethod
    def display_layer(cls, settings) -> DisplayLayer:
        """The template's display rules (locale, column formats, highlights), under the request's."""
        return cls.template(settings).display

    @staticmethod
    def template(settings) -> ReportTemplate:
        """Load and check the template the settings name; errors name ``format_options.template``."""
        try:
            return load_template(settings["template"])
        except TemplateError as error:
            raise ExportRequestError("format_options.template", str(error)) from None

    def __init__(self, stream, context):
        super().__init__(stream, context)
        self.check_columns(self.settings, context.columns)  # again: a template file may have changed
        facts = report_facts(
            context.title, context.timezone, context.export_id, context.filters, getattr(context, "user", "")
        )
        self._report = ParallelReport(
            stream,
            self.template(self.settings),
            context.columns,
            facts,
            context.display,
            range_rows=self.range_rows,
            workers=self.workers,
        )
        self.pages = 0

    def write(self, table: pa.Table) -> None:
        try:
            if self._report.rows + table.num_rows > self.max_rows:
                raise ExportRequestError(
                    "format", f"a pdf report holds at most {self.max_rows:,} rows",
                    "add filters, or use csv, jsonl or xlsx",
                )  # fmt: skip
            self._report.add(table)
        except BaseException:
            self._report.abandon()  # no close follows a failed write: stop the workers, remove the ranges
            raise

    def close(self) -> None:
        self.pages = self._report.close()
