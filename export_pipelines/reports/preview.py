"""``export-pipelines template preview``: render a template over sample orders, no database needed.

The sample rows come from the demo data generator, so they carry its hard cases (non-ASCII and
non-Latin names, quotes, line breaks, NULL next to ''), plus long notes that must wrap.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the command line imports this module at start-up: keep it light
    import pyarrow as pa

LONG_NOTES = (
    "Customer asked for the whole consignment to be split over three deliveries, the first to the "
    "warehouse in Rotterdam and the others to the shop; invoice only after the last one arrives.",
    "送货前请致电客户，确认收货地址与发票抬头。若无人签收，请将包裹寄存在附近的快递驿站并短信通知。",
    "يرجى الاتصال بالعميل قبل التسليم وتأكيد العنوان",
    "Tracking: https://tracking.example.com/shipments/ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnop",
    "Zoë Ångström requested Łódź delivery — café, naïve, façade, Straße, Øresund.",
)
SAMPLE_FILTERS = ("status in ('paid', 'shipped')", "amount ge Decimal('10.00')")


def orders_columns():
    from export_pipelines.datasets.catalog import load_catalog

    return tuple(load_catalog().dataset("orders").columns.values())


def sample_tables(rows: int, timezone: str = "UTC", chunk_rows: int = 10_000, seed: int = 7) -> Iterator[pa.Table]:
    """Arrow chunks of the orders columns, typed as the transform step types them."""
    import pyarrow as pa

    from export_pipelines.demo.values import Customer, customer_count, customer_rows, order_rows

    columns = orders_columns()
    rng = random.Random(seed)
    directory = [Customer.from_row(row) for row in customer_rows(customer_count(rows), rng)]
    schema = pa.schema(
        pa.field(c.name, pa.timestamp("us", tz=timezone) if c.type == "timestamp" else c.arrow_type) for c in columns
    )
    batch: list[tuple] = []
    for index, row in enumerate(order_rows(rows, rng, directory)):
        if index % 23 == 5:  # now and then a note that has to wrap
            row = (*row[:-1], LONG_NOTES[(index // 23) % len(LONG_NOTES)])
        batch.append(row)
        if len(batch) == chunk_rows:
            yield _table(batch, schema)
            batch = []
    if batch:
        yield _table(batch, schema)


def _table(batch: list[tuple], schema: pa.Schema) -> pa.Table:
    import pyarrow as pa

    arrays = []
    for position, field in enumerate(schema):
        values = [row[position] for row in batch]
        if pa.types.is_timestamp(field.type):
            arrays.append(pa.array(values, pa.timestamp("us", tz="UTC")).cast(field.type))
        else:
            arrays.append(pa.array(values, field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def add_template_commands(subparsers, display_rules=None) -> None:
    """Add ``template preview`` to the export-pipelines command's subparsers.

    ``display_rules(layer, dataset, timezone)`` checks a template's display rules against the catalog
    (``request.formatting.preview.template_display``); without it the preview ignores them.
    """
    template = subparsers.add_parser("template", help="PDF report templates: try one on sample data")
    actions = template.add_subparsers(dest="template_command", required=True)
    preview = actions.add_parser("preview", help="render sample orders with a template into a PDF")
    preview.add_argument("template", help="a template YAML file, or the name of a shipped template")
    preview.add_argument("--rows", type=int, default=300, help="sample orders to render (default 300)")
    preview.add_argument("--out", type=Path, help="the PDF to write (default: TEMPLATE-preview.pdf here)")
    preview.add_argument("--timezone", default="Europe/Berlin", help="time zone of the sample timestamps")
    preview.set_defaults(handler=preview_template, display_rules=display_rules)


def preview_template(args: argparse.Namespace) -> int:
    """Render ``args.rows`` sample orders with ``args.template`` into ``args.out``."""
    from export_pipelines.datasets.catalog import load_catalog
    from export_pipelines.reports.document import PdfReport, report_facts
    from export_pipelines.reports.template_files import load_template

    if args.rows < 0:
        raise ValueError("--rows must be 0 or more")
    template = load_template(args.template, trusted=True)  # the author's own file: any path will do
    columns = orders_columns()
    template.check_columns(columns)
    out = args.out or Path(f"{Path(args.template).stem}-preview.pdf")
    facts = report_facts(f"{load_catalog().dataset('orders').title} (template preview)", args.timezone,
                         export_id="preview", filters=SAMPLE_FILTERS, user="template-author")
    rules = getattr(args, "display_rules", None)
    display = rules(template.display, "orders", args.timezone) if rules else None
    with open(out, "wb") as stream:
        report = PdfReport(stream, template, columns, facts, *([display] if display else []))
        for table in sample_tables(args.rows, args.timezone):
            report.add(table)
        pages = report.close()
    orientation = "landscape" if report.landscape else "portrait"
    print(f"Wrote {out}: {args.rows:,} sample orders on {pages} {orientation} page(s), template {template.source}")
    if display is not None:
        print(describe_rules(display))
    return 0


def describe_rules(display) -> str:
    """The display rules a preview applied, in a few lines."""
    lines = [f"Locale: {display.locale or 'none (raw values where no rule says otherwise)'}"]
    for name, rule in display.columns:
        given = ", ".join(f"{field}: {value}" for field, value in vars(rule).items() if value is not None)
        lines.append(f"Column {name}: {given}")
    for highlight in display.highlights:
        style = ", ".join(f"{field}: {value}" for field, value in vars(highlight.style).items() if value)
        where = f" in {', '.join(highlight.columns)}" if highlight.columns else ""
        lines.append(f"Highlight when {highlight.when}{where}: {style}")
    return "\n".join(lines)
