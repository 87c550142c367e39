"""The template builder over real HTTP: build, save, edit and delete a template, its errors next to their field,
a logo judged by its bytes, a team's templates for its members only, and CSRF on every POST."""

from __future__ import annotations

import html
import io

import pytest
from pypdf import PdfReader

from export_pipelines.reports.template_files import load_template
from export_pipelines_tests.desk.conftest import Browser, csrf
from export_pipelines_tests.reports.test_logo_files import png

MONTHLY = {
    "name": "monthly", "scope": "mine", "title": "Monthly orders", "subtitle": "Prepared for {user}",
    "page.size": "A4", "page.orientation": "landscape",
    "columns[0].name": "amount", "columns[0].label": "Amount (EUR)", "columns[0].width": "30",
    "columns[0].align": "right", "columns[0].number": "currency", "columns[0].currency": "EUR",
    "columns[0].decimals": "2", "columns[0].total": "1",
    "header.left": "{title}", "footer.right": "Page {page} of {pages}", "totals_label": "Sum", "action": "save",
}  # fmt: skip


@pytest.fixture
def template_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPORT_REPORT_TEMPLATE_DIR", str(tmp_path))
    return tmp_path


def submit(browser: Browser, path: str, fields: dict, files=None):
    token = csrf(browser.get(path).text)
    return browser.request("POST", path, data={**fields, "csrf_token": token}, files=files)


def pdf_text(content: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def test_a_template_is_built_saved_listed_edited_and_deleted(browser: Browser, template_dir):
    browser.sign_in("analyst")
    saved = submit(browser, "/templates/new", MONTHLY)
    assert saved.status_code == 303 and saved.headers["location"] == "/templates?notice=saved"
    template = load_template("users/analyst/monthly")  # as an export names it
    assert (template.title, template.subtitle, template.totals, template.totals_label) == (
        "Monthly orders", "Prepared for {user}", ("amount",), "Sum")  # fmt: skip
    assert template.columns["amount"].width_mm == 30 and template.columns["amount"].label == "Amount (EUR)"

    listed = browser.get("/templates").text
    assert "users/analyst/monthly" in listed and 'href="/templates/mine/monthly/edit"' in listed
    form = browser.get("/templates/mine/monthly/edit").text
    assert 'value="Amount (EUR)"' in form and 'value="Prepared for {user}"' in form

    edited = submit(browser, "/templates/mine/monthly/edit", {**MONTHLY, "title": "Monthly orders, v2"})
    assert edited.status_code == 303 and load_template("users/analyst/monthly").title == "Monthly orders, v2"

    token = csrf(browser.get("/templates").text)
    deleted = browser.post("/templates/mine/monthly/delete", {"csrf_token": token})
    assert deleted.status_code == 303 and not (template_dir / "users" / "analyst" / "monthly.yaml").exists()
    assert "users/analyst/monthly" not in browser.get("/templates").text


def test_errors_are_shown_next_to_their_field_and_nothing_is_saved(browser: Browser, template_dir):
    browser.sign_in("analyst")
    typed = submit(browser, "/templates/new", {**MONTHLY, "columns[1].name": "quantity", "columns[1].width": "wide"})
    schema = submit(browser, "/templates/new", {**MONTHLY, "columns[1].name": "quantity", "columns[1].width": "900"})
    page_size = submit(browser, "/templates/new", {**MONTHLY, "page.size": "A3"})
    name = submit(browser, "/templates/new", {**MONTHLY, "name": "Monthly Orders!"})

    for answer, field, words in (
        (typed, "columns-1-width", "'wide' is not a number of millimetres"),
        (schema, "columns-1-width", "900"),
        (page_size, "page-size", "allowed: A4, Letter"),
        (name, "name", "is not a template name"),
    ):
        assert answer.status_code == 422
        start = answer.text.index(f'id="error-{field}"')
        assert words in html.unescape(answer.text[start : start + 400])
        assert f'aria-describedby="error-{field}"' in answer.text
    assert 'value="wide"' in typed.text  # the form comes back as it was typed
    assert not (template_dir / "users" / "analyst" / "monthly.yaml").exists()


def test_a_logo_is_judged_by_its_bytes(browser: Browser, template_dir):
    browser.sign_in("analyst")
    text = submit(
        browser, "/templates/new", MONTHLY, files={"logo_file": ("logo.png", b"hello, I am text", "image/png")}
    )
    big = submit(browser, "/templates/new", MONTHLY,
                 files={"logo_file": ("logo.png", png() + b"\0" * 600_000, "image/png")})  # fmt: skip
    huge = submit(browser, "/templates/new", MONTHLY, files={"logo_file": ("logo.png", png(50_000, 1), "image/png")})
    for answer, words in ((text, "not a PNG or JPEG"), (big, "at most 512 KiB"), (huge, "50000x1 pixels")):
        assert answer.status_code == 422 and words in answer.text[answer.text.index('id="error-logo"') :][:300]
    assert not (template_dir / "users" / "analyst" / "monthly.yaml").exists()

    accepted = submit(browser, "/templates/new", MONTHLY, files={"logo_file": ("brand.png", png(40, 20), "image/png")})
    assert accepted.status_code == 303
    assert load_template("users/analyst/monthly").logo == template_dir / "users" / "analyst" / "monthly-logo.png"
    assert "monthly-logo.png" in browser.get("/templates/mine/monthly/edit").text


def test_a_teams_template_is_for_its_members(browser: Browser, api_world, template_dir):
    browser.get(f"/signin/app?token={api_world.app.token('analyst', ['team:finance'], lifetime=60)}")
    saved = submit(browser, "/templates/new", {**MONTHLY, "scope": "team-finance"})
    assert saved.status_code == 303 and load_template("teams/finance/monthly").title == "Monthly orders"
    assert "teams/finance/monthly" in browser.get("/templates").text
    assert browser.get("/templates/team-finance/monthly/edit").status_code == 200

    outsider = Browser(api_world.server.url)
    try:
        outsider.sign_in("admin")
        assert "teams/finance/monthly" not in outsider.get("/templates").text
        assert outsider.get("/templates/team-finance/monthly/edit").status_code == 403
        token = csrf(outsider.get("/templates").text)
        assert outsider.post("/templates/team-finance/monthly/delete", {"csrf_token": token}).status_code == 403
        taken = submit(outsider, "/templates/new", {**MONTHLY, "scope": "team-finance", "title": "Mine now"})
        assert taken.status_code == 422 and "not a member of the team" in taken.text
    finally:
        outsider.http.close()
    assert load_template("teams/finance/monthly").title == "Monthly orders"


def test_every_post_needs_the_csrf_secret_and_the_preview_is_a_pdf(browser: Browser, template_dir):
    browser.sign_in("analyst")
    forged = browser.post("/templates/new", MONTHLY)
    assert forged.status_code == 403 and not (template_dir / "users" / "analyst").exists()
    token = csrf(browser.get("/templates/new").text)
    unsigned = browser.request("POST", "/templates/preview", json=MONTHLY)
    signed = browser.request("POST", "/templates/preview", json=MONTHLY, headers={"X-CSRF-Token": token})
    bad = browser.request("POST", "/templates/preview", json={**MONTHLY, "columns[0].width": "wide"},
                          headers={"X-CSRF-Token": token})  # fmt: skip
    summed_text = browser.request(
        "POST", "/templates/preview", headers={"X-CSRF-Token": token},
        json={**MONTHLY, "columns[1].name": "status", "columns[1].total": "1"},
    )  # fmt: skip
    button = submit(browser, "/templates/new", {**MONTHLY, "name": "", "action": "preview"})  # no script, no name yet

    assert unsigned.status_code == 403
    assert signed.status_code == 200 and signed.headers["content-type"] == "application/pdf"
    assert "Monthly orders" in pdf_text(signed.content) and "Prepared for analyst" in pdf_text(signed.content)
    assert bad.status_code == 422
    assert bad.json()["errors"] == {"columns[0].width": "'wide' is not a number of millimetres"}
    assert summed_text.status_code == 422 and "can be summed" in summed_text.json()["errors"]["columns[1].total"]
    assert button.status_code == 200 and "Monthly orders" in pdf_text(button.content)
    assert not (template_dir / "users" / "analyst" / "monthly.yaml").exists()
