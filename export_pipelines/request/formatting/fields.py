"""The request's ``formats`` and ``highlight`` entries, typed for the launchpad (choices are enums there).

The schema checks shapes only; ``request.formatting.check`` checks values (a currency code, a date
pattern, a colour, a condition) and names the field of any mistake (``formats.amount.decimals``).
"""

from __future__ import annotations

from typing import Any

from dagster import Config
from pydantic import ConfigDict, Field, StrictBool, StrictInt, StrictStr

from export_pipelines.display.rules import PATTERN_HELP
from export_pipelines.request.format_options import choices

NumberKind = choices("NumberKind", "decimal", "currency", "percent")
Align = choices("Align", "left", "center", "right")


class _Given(Config):
    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    def given(self) -> dict[str, Any]:
        """The fields set, by name: what is stored in the run's config."""
        return {name: value for name, value in self.model_dump().items() if value is not None}


class ColumnFormat(_Given):
    """How one column is shown; a field left out takes the template's, then the catalog's, then the default."""

    label: StrictStr | None = Field(default=None, description="Header text instead of the catalog label.")
    number: NumberKind | None = Field(
        default=None, description="decimal, currency (with currency) or percent (0.125 shows as 12.5 %)."
    )
    decimals: StrictInt | None = Field(default=None, description="Digits after the decimal symbol, 0 to 9.")
    thousands: StrictBool | None = Field(default=None, description="Group digits (1.234.567 in de-DE); default true.")
    currency: StrictStr | None = Field(default=None, description="ISO 4217 code such as EUR, USD, JPY.")
    datetime: StrictStr | None = Field(default=None, description="Dates and timestamps: " + PATTERN_HELP + ".")
    null: StrictStr | None = Field(default=None, description="Text shown for a missing value (xlsx leaves it empty).")
    align: Align | None = Field(default=None, description="pdf, xlsx: left, center or right.")


class HighlightFormat(_Given):
    """A conditional style: rows (or the listed columns' cells) where ``when`` holds are styled."""

    when: StrictStr = Field(description="A condition in the language of where, e.g. amount > 1000.")
    bold: StrictBool | None = Field(default=None, description="Bold text.")
    italic: StrictBool | None = Field(default=None, description="Italic text.")
    color: StrictStr | None = Field(default=None, description="Text colour, #RRGGBB such as #C00000.")
    background: StrictStr | None = Field(default=None, description="Cell fill, #RRGGBB such as #FFF2CC.")
    columns: list[StrictStr] | None = Field(default=None, description="Only these columns' cells; default: the row.")
