"""The pages as a person sees them: Debian's headless Chromium, driven by selenium, downloading for real."""

from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from export_pipelines_tests.chromium import wait_for_file

# End to end through real servers (left out of `make test-fast`).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]  # servers start in the first test


def test_a_person_opens_the_link_sees_the_facts_and_downloads_the_file(world, clock, chromium):
    from selenium.webdriver.common.by import By

    driver, downloads = chromium
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


def test_an_expired_link_shows_the_expired_page(world, clock, chromium):
    from selenium.webdriver.common.by import By

    driver, _ = chromium
    link = world.link(world.small, ttl=timedelta(hours=1))
    clock.fixed = link.expires_at + timedelta(minutes=1)

    driver.get(world.server.url + urlsplit(link.url).path)

    assert driver.find_element(By.TAG_NAME, "h1").text == "This download is no longer available"
    assert "expired" in driver.find_element(By.ID, "message").text
    assert "new link" in driver.find_element(By.ID, "next-step").text
    assert driver.find_element(By.ID, "reason").text == "expired"
    assert not driver.find_elements(By.ID, "download")


def test_a_person_watches_a_running_export_and_downloads_it_when_the_bar_is_full(world, clock, chromium):
    from selenium.webdriver.common.by import By

    from export_pipelines_tests.delivery.test_live_status import RunningExport

    driver, downloads = chromium
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
