"""The template builder in Chromium: sign in, build a template, watch the preview follow a change of title,
see a field error appear next to its field, save it and find it listed; at a phone's width too."""

from __future__ import annotations

import base64
import io

import pytest
from pypdf import PdfReader

from export_pipelines_tests.screenshots import save_screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]  # servers start in the first test

# The page's CSP lets a script fetch only this site (connect-src 'self'), not a blob: URL; so the test keeps each
# blob the page turns into a URL (a script the browser runs before the page's own, outside the page's CSP) and
# reads back the one the preview frame shows.
KEEP_BLOBS = """
window.keptBlobs = {};
var original = URL.createObjectURL;
URL.createObjectURL = function (blob) { var url = original.call(URL, blob); window.keptBlobs[url] = blob; return url; };
"""
READ_SHOWN = """
var done = arguments[arguments.length - 1];
var blob = window.keptBlobs[document.getElementById("preview").src];
if (!blob) { done("failed: the frame shows no blob the page made"); return; }
var reader = new FileReader();
reader.onload = function () { done(reader.result.split(",")[1]); };
reader.readAsDataURL(blob);
"""


@pytest.fixture
def template_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPORT_REPORT_TEMPLATE_DIR", str(tmp_path))
    return tmp_path


def shown_pdf_text(driver) -> str:
    """The text of the PDF the preview frame shows, read back from its blob: URL in the page."""
    encoded = driver.execute_async_script(READ_SHOWN)
    assert not encoded.startswith("failed"), encoded
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(base64.b64decode(encoded))).pages)


def test_a_person_builds_a_template_sees_the_preview_follow_and_saves_it(api_world, chromium, template_dir):
    from selenium.webdriver.support.ui import WebDriverWait

    driver, _ = chromium
    driver.set_window_size(1280, 900)
    wait = WebDriverWait(driver, 60)
    kept = driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": KEEP_BLOBS})
    try:
        build_preview_and_save(driver, wait, api_world.server.url, template_dir)
    finally:
        driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": kept["identifier"]})


def build_preview_and_save(driver, wait, base: str, template_dir) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/signin")
    driver.find_element(By.CSS_SELECTOR, "button[name=user][value=analyst]").click()
    wait.until(lambda d: d.find_elements(By.ID, "signed-in-as"))
    driver.get(f"{base}/templates/new")

    driver.find_element(By.ID, "f-name").send_keys("browser-made")
    title = driver.find_element(By.ID, "f-title")
    title.clear()
    title.send_keys("First title")
    wait.until(lambda d: d.find_element(By.ID, "preview").get_attribute("data-version"))
    wait.until(lambda d: "First title" in shown_pdf_text(d))
    first_src = driver.find_element(By.ID, "preview").get_attribute("src")
    assert first_src.startswith("blob:")

    title.clear()
    title.send_keys("Second title")
    wait.until(lambda d: d.find_element(By.ID, "preview").get_attribute("src") != first_src)
    wait.until(lambda d: "Second title" in shown_pdf_text(d))
    assert "First title" not in shown_pdf_text(driver)
    save_screenshot(driver, "template-builder")

    driver.find_element(By.ID, "f-columns-0-name").send_keys("amount")
    width = driver.find_element(By.ID, "f-columns-0-width")
    width.send_keys("wide")
    error = wait.until(lambda d: d.find_elements(By.ID, "error-columns-0-width"))[0]
    assert "not a number of millimetres" in error.text
    assert width.get_attribute("aria-describedby") == "error-columns-0-width"
    width.clear()
    width.send_keys("30")
    wait.until(lambda d: not d.find_elements(By.ID, "error-columns-0-width"))

    driver.find_element(By.ID, "save").click()
    wait.until(lambda d: d.find_elements(By.ID, "notice"))
    assert "users/analyst/browser-made" in driver.find_element(By.ID, "templates").text
    assert (template_dir / "users" / "analyst" / "browser-made.yaml").is_file()

    driver.set_window_size(375, 800)
    for path in ("/templates", "/templates/new", "/templates/mine/browser-made/edit"):
        driver.get(f"{base}{path}")
        wait.until(lambda d: d.find_elements(By.TAG_NAME, "h1"))
        widest = driver.execute_script(
            "var w = null; document.querySelectorAll('main *').forEach(function (e) {"
            " if (e.getBoundingClientRect().right > 375 && !w) w = e.tagName + '#' + e.id + '.' + e.className; });"
            " return w;"
        )
        assert driver.execute_script("return document.documentElement.scrollWidth") <= 375, (path, widest)
