"""The Subscriptions pages in Chromium: sign in with the development sign-in, create a subscription from the form,
see it listed, send it now and see its export queued in My exports; at 375 px nothing scrolls sideways."""

from __future__ import annotations

import pytest
from dagster import DagsterInstance, RunsFilter

from export_pipelines.automation.subscription_table import SubscriptionTable

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]  # the service starts in the first test


def fits_375(driver) -> bool:
    return driver.execute_script("return document.documentElement.scrollWidth") <= 375


def test_a_person_creates_a_subscription_sends_it_now_and_sees_the_export_queued(api_world, chromium):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    SubscriptionTable(api_world.source).create()
    driver, _ = chromium
    base = api_world.server.url
    wait = WebDriverWait(driver, 30)
    driver.set_window_size(1200, 900)
    driver.get(f"{base}/signin?next=/subscriptions")
    driver.find_element(By.CSS_SELECTOR, 'button[name="user"][value="analyst"]').click()
    wait.until(lambda d: d.current_url.endswith("/subscriptions"))
    driver.find_element(By.ID, "new-subscription").click()
    wait.until(lambda d: d.find_elements(By.ID, "save"))

    driver.find_element(By.ID, "name").send_keys("weekly_orders")
    Select(driver.find_element(By.ID, "dataset")).select_by_value("orders")
    driver.find_element(By.ID, "columns").send_keys("order_id, amount, created_at")
    Select(driver.find_element(By.ID, "format")).select_by_value("xlsx")
    driver.find_element(By.CSS_SELECTOR, 'input[name="preset"][value="weekly"]').click()
    Select(driver.find_element(By.ID, "weekday")).select_by_visible_text("Monday")
    time_field = driver.find_element(By.ID, "time")
    time_field.clear()
    time_field.send_keys("07:30")
    zone = driver.find_element(By.ID, "timezone")
    zone.clear()
    zone.send_keys("America/New_York")
    driver.find_element(By.ID, "recipients").send_keys("ana@example.com")
    driver.find_element(By.ID, "skip_if_empty").click()
    driver.set_window_size(375, 800)
    form_fits = fits_375(driver)
    driver.find_element(By.ID, "save").click()
    listed = wait.until(lambda d: d.find_elements(By.ID, "subscription-weekly_orders"))[0]
    list_fits = fits_375(driver)

    assert form_fits and list_fits, "a page scrolls sideways at 375 px"
    assert driver.find_element(By.ID, "notice").text == "The subscription was created."
    schedule = listed.find_element(By.CSS_SELECTOR, '[data-field="schedule"]').text
    assert schedule == "Every Monday at 07:30 30 7 * * 1"
    assert listed.find_element(By.CSS_SELECTOR, '[data-field="timezone"]').text == "America/New_York"
    assert listed.find_element(By.CSS_SELECTOR, '[data-field="state"]').text == "Active"
    assert listed.find_element(By.CSS_SELECTOR, '[data-field="next-run"] time').get_attribute("datetime")

    listed.find_element(By.CSS_SELECTOR, "button.send-now").click()
    wait.until(lambda d: "/exports" in d.current_url and d.find_elements(By.ID, "notice"))
    runs = DagsterInstance.get().get_runs(RunsFilter(tags={"export/subscription": "weekly_orders"}))
    assert len(runs) == 1
    export = driver.find_element(By.ID, f"export-{runs[0].run_id}")
    assert export.get_attribute("data-status") == "queued"
    assert export.find_element(By.CSS_SELECTOR, ".format").text == "XLSX"
    assert fits_375(driver)
