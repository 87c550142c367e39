"""Report templates: a YAML file that says how a PDF report looks, and the checked result of reading one.

A template only overrides what it names; everything else comes from ``templates/default.yaml``,
which also documents every field. ``template_files`` finds and reads a template file safely and
``template_fields`` checks it field by field; what they produce is a :class:`ReportTemplate`, or a
:class:`TemplateError` that starts with the YAML path of the field at fault.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from reportlab.lib.colors import Color

from export_pipelines.datasets.catalog import ColumnSpec
from export_pipelines.display.styles import DisplayLayer

SHIPPED_DIR = Path(str(resources.files("export_pipelines.reports").joinpath("templates")))
SUMMABLE = ("integer", "float", "decimal")
TEMPLATE_FIELD = "format_options.template"  # how errors in a template's display rules name it


class TemplateError(ValueError):
    """A template that cannot be used; the message starts with the YAML field at fault."""


@dataclass(frozen=True)
class Band:
    """Text at the left, centre and right of the page header or footer (placeholders allowed)."""

    left: str = ""
    center: str = ""
    right: str = ""


@dataclass(frozen=True)
class ColumnStyle:
    label: str | None = None
    width_mm: float | None = None
    align: str | None = None


@dataclass(frozen=True)
class ReportTemplate:
    """A checked template: every path resolved, every colour parsed, every font registered."""

    source: str
    title: str
    logo: Path | None
    page_size: str
    orientation: str
    regular_font: Path
    bold_font: Path | None
    fallback_fonts: tuple[Path, ...]
    font_size: float
    colours: dict[str, Color | None]
    header: Band
    footer: Band
    columns: dict[str, ColumnStyle] = field(default_factory=dict)
    subtitle: str = ""  # a line under the title (placeholders allowed)
    totals: tuple[str, ...] = ()
    totals_label: str = "Total"
    display: DisplayLayer = DisplayLayer(TEMPLATE_FIELD)  # locale, column formats, highlights

    def check_columns(self, columns: tuple[ColumnSpec, ...]) -> None:
        """Refuse totals on columns the export lacks or cannot sum; column styles are optional hints."""
        by_name = {column.name: column for column in columns}
        for index, name in enumerate(self.totals):
            where = f"totals[{index}]"
            if name not in by_name:
                raise TemplateError(f"{where}: column {name!r} is not a column of the export "
                                    f"(allowed: {', '.join(by_name)})")
            if by_name[name].type not in SUMMABLE:
                raise TemplateError(f"{where}: column {name!r} is {by_name[name].type}; only "
                                    f"{', '.join(SUMMABLE)} columns can be summed")
