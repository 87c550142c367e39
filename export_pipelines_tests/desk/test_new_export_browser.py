"""New export as a person uses it: Debian's headless Chromium signs in as a demo user, fills the form by
keyboard and clicks, sees the estimate, a refused value next to its field, and the export on My exports."""

from __future__ import annotations

import pytest

from export_pipelines_tests.screenshots import save_screenshot

# End to end through a real server and browser (left out of `make test-fast`).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def until(driver, condition, timeout: float = 30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda _: condition())


def sign_in(driver, base: str, user: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(base + "/exports/new")
    driver.find_element(By.CSS_SELECTOR, f'button[name="user"][value="{user}"]').click()
    until(driver, lambda: driver.current_url.endswith("/exports/new"))


def test_a_person_fills_the_form_sees_the_estimate_and_an_error_then_finds_the_export(api_world, chromium):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.expected_conditions import staleness_of
    from selenium.webdriver.support.ui import Select

    driver, _ = chromium
    driver.set_window_size(1200, 900)
    sign_in(driver, api_world.server.url, "analyst")

    def find(selector: str):
        return driver.find_element(By.CSS_SELECTOR, selector)

    Select(find("#dataset")).select_by_value("customers")  # the columns follow the dataset
    until(driver, lambda: driver.find_elements(By.ID, "column-email"))
    Select(find("#dataset")).select_by_value("orders")
    until(driver, lambda: driver.find_elements(By.ID, "column-amount"))
    for box in driver.find_elements(By.CSS_SELECTOR, "input[name=columns]:checked"):
        if box.get_attribute("value") not in ("order_id", "amount"):
            box.click()
    move_up = find('button[aria-label="Move Amount up"]')
    move_up.send_keys(Keys.ENTER)
    while (
        driver.switch_to.active_element.get_attribute("aria-label") == "Move Amount up"
        and find("#column-list li").get_attribute("data-name") != "amount"
    ):
        driver.switch_to.active_element.send_keys(Keys.ENTER)  # the button keeps the focus as its row moves
    chosen = [
        box.get_attribute("value") for box in driver.find_elements(By.CSS_SELECTOR, "input[name=columns]:checked")
    ]
    assert chosen == ["amount", "order_id"]

    Select(find("#filters-0-column")).select_by_value("quantity")
    Select(find("#filters-0-op")).select_by_value("ge")
    assert find("#filters-0-value").get_attribute("type") == "number"  # the input fits the column's type
    find("#filters-0-value").send_keys("2")
    until(driver, lambda: find("#estimate").text.startswith("about "))
    assert "MiB" in find("#estimate").text or "KiB" in find("#estimate").text
    driver.execute_script("window.scrollTo(0, 0)")
    save_screenshot(driver, "new-export")

    Select(find("#filters-0-op")).select_by_value("in")
    value = find("#filters-0-value")
    assert value.get_attribute("type") == "text"
    value.send_keys("2, two")
    until(driver, lambda: driver.find_elements(By.ID, "error-filters-0-value"))  # the estimate's, as typed
    assert "'two' is not valid" in find("#error-filters-0-value").text
    assert find("#estimate").text.startswith("No estimate yet")
    form = find("#new-export")
    find("#submit").click()

    until(driver, lambda: staleness_of(form)(driver))  # the form the server sent back
    error = find("#error-filters-0-value")
    assert "'two' is not valid for integer column 'quantity'" in error.text
    assert error.find_element(By.XPATH, "..").get_attribute("data-field") == "filters[0].value"  # next to it
    assert find("#filters-0-value").get_attribute("aria-describedby") == "error-filters-0-value"
    chosen = [
        box.get_attribute("value") for box in driver.find_elements(By.CSS_SELECTOR, "input[name=columns]:checked")
    ]
    assert chosen == ["amount", "order_id"]  # kept as the person left it

    value = find("#filters-0-value")
    value.clear()
    value.send_keys("2, 3", Keys.ENTER)  # Enter submits the export

    until(driver, lambda: "/exports?notice=submitted" in driver.current_url)
    exports = driver.find_elements(By.CSS_SELECTOR, "#exports li.export")
    assert len(exports) == 2 and exports[0].get_attribute("data-status") == "queued"
    assert exports[1].get_attribute("data-id") == api_world.finished.run_id


def test_the_form_fits_a_375_px_screen_with_its_errors_shown(api_world, chromium):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver, _ = chromium
    driver.set_window_size(375, 800)
    sign_in(driver, api_world.server.url, "analyst")
    Select(driver.find_element(By.ID, "filters-0-column")).select_by_value("created_at")
    Select(driver.find_element(By.ID, "filters-0-op")).select_by_value("within")
    driver.find_element(By.ID, "filters-0-value").send_keys("last 30 days")
    driver.find_element(By.ID, "add-filter").click()
    driver.find_element(By.ID, "repeat").click()
    driver.find_element(By.ID, "submit").click()

    until(
        driver,
        lambda: driver.find_elements(By.ID, "error-schedule_name") or driver.find_elements(By.ID, "error-repeat"),
    )
    width = driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= 375
