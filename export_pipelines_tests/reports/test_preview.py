"""``template preview``: a template author's look at a template, on sample orders, with no database."""

from __future__ import annotations

import argparse

import pytest
from pypdf import PdfReader

from export_pipelines.reports.preview import add_template_commands, sample_tables
from export_pipelines.reports.template import TemplateError


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="export-pipelines")
    add_template_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["template", "preview", *argv])
    return args.handler(args)


def test_preview_writes_a_pdf_of_sample_orders(tmp_path, capsys):
    template = tmp_path / "mine.yaml"  # any path: the author's own file
    template.write_text("title: 'Preview of {title}'\ntotals: [amount]\ncolours: {header_background: '#336699'}\n")
    out = tmp_path / "out.pdf"

    assert _run(str(template), "--rows", "120", "--out", str(out)) == 0

    reader = PdfReader(out)
    assert len(reader.pages) >= 2
    first = reader.pages[0].extract_text()
    assert "Preview of Orders (template preview)" in first and "李小龙" in first
    assert "Total" in reader.pages[-1].extract_text()
    assert f"Wrote {out}: 120 sample orders on {len(reader.pages)} landscape page(s)" in capsys.readouterr().out


def test_preview_of_a_bad_template_fails_with_the_field_at_fault(tmp_path):
    template = tmp_path / "bad.yaml"
    template.write_text("totals: [status]\n")

    with pytest.raises(TemplateError, match=r"totals\[0\]: column 'status' is string"):
        _run(str(template), "--out", str(tmp_path / "out.pdf"))
    assert not (tmp_path / "out.pdf").exists()


def test_sample_orders_carry_hard_and_long_values():
    table = next(sample_tables(60))
    names, notes = table.column("customer_name").to_pylist(), table.column("note").to_pylist()

    assert table.num_rows == 60 and {"李小龙", "محمد", "Zoë Ångström"} <= set(names)
    assert None in notes and "" in notes and any(len(note or "") > 150 for note in notes)
