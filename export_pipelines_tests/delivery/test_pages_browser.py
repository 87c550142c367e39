"""The pages as a person sees them: Debian's headless Chromium, driven by selenium, downloading for real."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from export_pipelines_tests.services import unavailable

# End to end through real servers (left out of `make test-fast`).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]  # servers start in the first test

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        unavailable("Chromium", f"{CHROMIUM} and {CHROMEDRIVER} are needed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):  # fmt: skip
        options.add_argument(argument)
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except WebDriverException as error:
        unavailable("Chromium", f"chromedriver did not start a browser: {error.msg}")
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    try:
        yield driver, downloads
    finally:
        driver.quit()


def wait_for_file(folder: Path, name: str, timeout: float = 60) -> Path:
    deadline = time.monotonic() + timeout
    target = folder / name
    while time.monotonic() < deadline:
        if target.exists() and not list(folder.glob("*.crdownload")):
            return target
        time.sleep(0.1)
    raise AssertionError(f"{name} was not downloaded; the folder holds {sorted(p.name for p in folder.iterdir())}")


def test_a_person_opens_the_link_sees_the_facts_and_downloads_the_file(world, clock, browser):
    from selenium.webdriver.common.by import By

    driver, downloads = browser
    record = world.small
    driver.get(world.server.url + urlsplit(world.link(record).url).path)

    facts = {e.get_attribute("data-fact"): e.text for e in driver.find_elements(By.CSS_SELECTOR, "dd[data-fact]")}
    assert driver.find_element(By.TAG_NAME, "h1").text == "Q1 <orders> & co"
    assert facts["dataset"] == "orders" and facts["format"] == "CSV" and facts["rows"] == f"{record.rows:,}"
    assert facts["filters"] == "amount ge 10" and f"{record.bytes:,} bytes" in facts["size"]
    assert facts["file-expires"].startswith(record.expires_at[:10]) and facts["link-expires"].endswith("UTC")
    notice = driver.find_element(By.ID, "withheld").text
    assert notice == "Some rows were withheld because of your permissions."

    driver.find_element(By.ID, "download").click()

    name = record.file_key.rsplit("/", 1)[1]
    assert wait_for_file(downloads, name).read_bytes() == world.plaintext(record)


def test_an_expired_link_shows_the_expired_page(world, clock, browser):
    from selenium.webdriver.common.by import By

    driver, _ = browser
    link = world.link(world.small, ttl=timedelta(hours=1))
    clock.fixed = link.expires_at + timedelta(minutes=1)

    driver.get(world.server.url + urlsplit(link.url).path)

    assert driver.find_element(By.TAG_NAME, "h1").text == "This download is no longer available"
    assert "expired" in driver.find_element(By.ID, "message").text
    assert "new link" in driver.find_element(By.ID, "next-step").text
    assert driver.find_element(By.ID, "reason").text == "expired"
    assert not driver.find_elements(By.ID, "download")


def test_a_person_watches_a_running_export_and_downloads_it_when_the_bar_is_full(world, clock, browser):
    from selenium.webdriver.common.by import By

    from export_pipelines_tests.delivery.test_live_status import RunningExport

    driver, downloads = browser
    export = RunningExport()
    driver.get(f"{world.server.url}/d/{export.token()}")
    assert driver.find_element(By.TAG_NAME, "h1").text == "Your export is being prepared"

    seen, stages = [], set()
    button = driver.find_element(By.ID, "download")
    deadline = time.monotonic() + 300
    while not button.is_displayed():
        assert time.monotonic() < deadline, f"no download button; the bar went through {seen}"
        seen.append(int(driver.find_element(By.ID, "progress").get_attribute("value")))
        stages.add(driver.find_element(By.ID, "stage").text)
        time.sleep(0.1)
    export.join()

    assert seen == sorted(seen) and any(0 < value < 100 for value in seen), seen
    assert {"Reading the rows", "Writing the file"} & stages, stages
    assert driver.find_element(By.ID, "progress").get_attribute("value") == "100"
    assert driver.find_element(By.ID, "stage").text == "Ready"
    assert driver.find_element(By.TAG_NAME, "h1").text == "Your export is ready"
    assert button.get_attribute("href").endswith("/file")
    button.click()

    from export_pipelines.observability.audit import audit_record_for_run

    record = audit_record_for_run(export.instance, export.run_id)
    name = record.file_key.rsplit("/", 1)[1]
    assert wait_for_file(downloads, name).read_bytes() == world.plaintext(record)
