"""/api/v1/templates over real HTTP: a user's PDF templates, checked by the template schema, saved where a
request can name them, and previewed as a PDF of sample rows."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from export_pipelines.reports.template_files import load_template

MONTHLY = {"title": "Monthly orders", "page": {"size": "A4", "orientation": "landscape"}, "totals": ["amount"]}


@pytest.fixture
def template_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPORT_REPORT_TEMPLATE_DIR", str(tmp_path))  # read at every call, as the run reads it
    return tmp_path


def test_a_template_is_saved_checked_listed_named_by_requests_and_deleted(api_world, template_dir):
    with api_world.client("analyst") as api, api_world.client("admin") as other:
        created = api.put("/templates/monthly", json=MONTHLY)
        replaced = api.put("/templates/monthly", json={**MONTHLY, "title": "Monthly orders, v2"})
        bad = api.put("/templates/broken", json={"page": {"size": "A3"}})
        escape = api.put("/templates/logo", json={"logo": "../../etc/passwd.png"})
        listed = api.get("/templates").json()["items"]
        theirs = other.get("/templates").json()["items"]
        foreign_delete = other.delete("/templates/monthly")
        deleted = api.delete("/templates/monthly")

    assert created.status_code == 201 and replaced.status_code == 200
    assert created.json()["template"] == "users/analyst/monthly"
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "page.size"
    assert escape.status_code == 422 and escape.json()["errors"][0]["field"] == "logo"
    assert listed == [{"name": "monthly", "scope": "user", "template": "users/analyst/monthly"}] and theirs == []
    assert foreign_delete.status_code == 404 and deleted.status_code == 204
    assert not (template_dir / "users" / "analyst" / "monthly.yaml").exists()


def test_a_saved_template_is_what_a_request_names(api_world, template_dir):
    with api_world.client("analyst") as api:
        api.put("/templates/named", json=MONTHLY)
    assert load_template("users/analyst/named").title == "Monthly orders"  # as validate_request loads it


def test_the_preview_is_a_pdf_of_sample_rows_in_the_template_and_bad_templates_are_422(api_world, template_dir):
    with api_world.client("analyst") as api:
        pdf = api.post("/templates/preview", json={"template": MONTHLY, "rows": 40})
        wrong_total = api.post("/templates/preview", json={"template": {"totals": ["status"]}})

    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(pdf.content))
    first = reader.pages[0]
    assert first.mediabox.width > first.mediabox.height  # landscape, as the template says
    assert "Monthly orders" in first.extract_text()
    assert wrong_total.status_code == 422 and wrong_total.json()["errors"][0]["field"].startswith("totals")
