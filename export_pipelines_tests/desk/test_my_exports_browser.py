"""My exports as a person uses it, in Chromium: a real Dagster daemon (`dagster dev`) launches what the API
submits, the page's bar follows the run to its end, the file downloaded through the page is the stored one.

The deployment's queue never launches an export of ``customers`` (a tag limit of 0), so an export that must stay
queued (to be canceled) is one of ``customers``; exports of ``orders`` run. Each test saves a screenshot of the
page it looks at (``export_pipelines_tests.screenshots``; ``make screenshots`` keeps them in docs/screenshots).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from urllib.parse import urlsplit

import pytest
from dagster import DagsterInstance

from export_pipelines_tests.api.conftest import Application
from export_pipelines_tests.automation.dagster_dev import DagsterDev
from export_pipelines_tests.chromium import wait_for_file
from export_pipelines_tests.delivery.conftest import start_server
from export_pipelines_tests.exported import decrypted_copy
from export_pipelines_tests.jobs.conftest import SEED_ROWS
from export_pipelines_tests.screenshots import save_screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]  # dagster dev starts in the first test
ORDERS = {"dataset": "orders", "format": "csv", "columns": ["order_id", "tenant_id", "amount"]}
HELD = {"dataset": "customers", "format": "csv", "columns": ["customer_id", "name"]}  # never launched here
# Records every value the row's bar takes, in sessionStorage: desk.js reloads the page when the export ends.
WATCH_BAR = """
var bar = document.querySelector("#export-" + arguments[0] + " progress");
var seen = [Number(bar.value)];
function keep() { sessionStorage.setItem("seen", JSON.stringify(seen)); }
keep();
new MutationObserver(function () { seen.push(Number(bar.value)); keep(); })
  .observe(bar, {attributes: true, attributeFilter: ["value"]});
"""
DESK_PAGES = ("/exports", "/exports?status=succeeded", "/exports?status=canceled")


def hold_customers(config: dict) -> None:
    config["run_coordinator"]["config"]["tag_concurrency_limits"].append(
        {"key": "export/dataset", "value": "customers", "limit": 0}
    )


@pytest.fixture(scope="module")
def desk(tmp_path_factory, chromium):
    from export_pipelines.demo.seed import seed_demo
    from export_pipelines.service.app import create_app

    work = tmp_path_factory.mktemp("my-exports-browser")
    source = f"sqlite:///{work / 'source.sqlite'}"
    seed_demo(source, rows=SEED_ROWS)
    app = Application()
    (work / "app.pem").write_bytes(app.public_pem)
    env = {"EXPORT_SOURCE_DB_URL": source, "EXPORT_DATA_DIR": str(work / "var"),
           "EXPORT_APP_JWT_PUBLIC_KEY": str(work / "app.pem")}  # fmt: skip
    dev = DagsterDev(work, env, hold_customers)
    with pytest.MonkeyPatch.context() as patch:
        dev.share_with(patch)  # the service reads and writes the same instance, source and files
        dev.start(seconds=300)
        environ = dict(os.environ)
        server = start_server(create_app(instance=DagsterInstance.get(), environ=environ))
        environ["EXPORT_PUBLIC_URL"] = server.url  # the links the pages show are built on it
        try:
            yield Desk(dev, app, server, work, chromium[0], chromium[1])
        finally:
            server.stop()
            dev.stop()


class Desk:
    def __init__(self, dev, app, server, work, driver, downloads):
        self.dev, self.app, self.server, self.work = dev, app, server, work
        self.driver, self.downloads = driver, downloads

    def submit(self, user: str, body: dict) -> str:
        with self.app.client(self.server, user) as api:
            answer = api.post("/exports", json=body)
        assert answer.status_code == 202, answer.text
        return answer.json()["id"]

    def open(self, path: str) -> None:
        self.driver.get(self.server.url + path)

    def find(self, css: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def wait(self, check, seconds: float, what: str):
        deadline = time.monotonic() + seconds
        while not (value := check()):
            assert time.monotonic() < deadline, f"waited {seconds} s for {what}:\n{self.dev.log_tail(30)}"
            time.sleep(0.2)
        return value

    def follow(self, element) -> None:
        """Clicks ``element`` (a link, a form's button) and waits until the page it leads to has loaded."""
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.wait import WebDriverWait

        page = self.find("html")
        element.click()
        WebDriverWait(self.driver, 60).until(expected_conditions.staleness_of(page))
        WebDriverWait(self.driver, 60).until(lambda d: d.execute_script("return document.readyState") == "complete")

    def row_status(self, export_id: str) -> str | None:
        from selenium.common.exceptions import StaleElementReferenceException

        try:
            rows = self.find_all(f"#export-{export_id}")
            return rows[0].get_attribute("data-status") if rows else None
        except StaleElementReferenceException:  # desk.js reloaded the page meanwhile
            return None


def test_a_demo_user_signs_in_by_clicking_their_name(desk: Desk):
    desk.driver.delete_all_cookies()
    desk.open("/exports")
    assert urlsplit(desk.driver.current_url).path == "/signin"
    save_screenshot(desk.driver, "sign-in")

    desk.follow(desk.find('form.users button[value="analyst"]'))

    assert urlsplit(desk.driver.current_url).path == "/exports"
    assert desk.find("#signed-in-as").text == "analyst"


def test_the_bar_of_an_api_export_moves_to_the_end_and_its_download_is_the_stored_file(desk: Desk, tmp_path):
    export_id = desk.submit("analyst", ORDERS)
    desk.open("/exports")
    assert desk.row_status(export_id) in ("queued", "running")
    desk.driver.execute_script(WATCH_BAR, export_id)

    desk.wait(lambda: desk.row_status(export_id) == "succeeded", 300, "the row to show succeeded")

    seen = json.loads(desk.driver.execute_script("return sessionStorage.getItem('seen')"))
    assert seen == sorted(seen) and seen[-1] == 100, seen
    row = desk.find(f"#export-{export_id}")
    assert row.find_element("css selector", "[data-field=status]").text == "succeeded"
    save_screenshot(desk.driver, "my-exports")
    desk.follow(row.find_element("css selector", "a.download"))
    shown_sha256 = desk.find("#sha256").text
    desk.find("#download").click()  # a download: the page stays

    from export_pipelines.observability.audit import audit_record_for_run

    record = audit_record_for_run(DagsterInstance.get(), export_id)
    downloaded = wait_for_file(desk.downloads, record.file_key.rsplit("/", 1)[1]).read_bytes()
    with open(decrypted_copy(record.file_key, tmp_path), "rb") as stored:
        assert hashlib.sha256(downloaded).hexdigest() == shown_sha256 == hashlib.sha256(stored.read()).hexdigest()


def test_a_fresh_link_opens_the_download_page(desk: Desk):
    desk.open("/exports?status=succeeded")
    desk.follow(desk.find(".export button.link"))

    assert desk.find("h1").text == "A new download link"
    shared = desk.find("#link-url").get_attribute("value")
    desk.follow(desk.find("#new-link"))

    assert urlsplit(desk.driver.current_url).path == urlsplit(shared).path
    assert desk.find("#sha256").text and desk.find("#download").is_displayed()


def test_a_queued_export_is_canceled_then_run_again(desk: Desk):
    held = desk.submit("analyst", HELD)
    desk.open("/exports")
    assert desk.row_status(held) == "queued"

    desk.follow(desk.find(f"#export-{held} button.cancel"))

    assert desk.find("#notice").text == "The export was canceled."
    assert desk.row_status(held) == "canceled"
    before = {row.get_attribute("data-id") for row in desk.find_all(".export")}
    desk.follow(desk.find(f"#export-{held} button.again"))

    assert desk.find("#notice").text.startswith("Your export was submitted")
    again = [row for row in desk.find_all(".export") if row.get_attribute("data-id") not in before]
    assert len(again) == 1 and again[0].get_attribute("data-status") == "queued"
    assert again[0].find_element("css selector", ".title").text == "customers"


def test_the_status_filter_shows_only_exports_of_that_status(desk: Desk):
    desk.open("/exports")
    desk.follow(desk.find('.filters a[href="/exports?status=canceled"]'))

    assert desk.find('.filters a[aria-current="page"]').text == "Canceled"
    shown = {row.get_attribute("data-status") for row in desk.find_all(".export")}
    assert shown == {"canceled"}
    desk.follow(desk.find('.filters a[href="/exports?status=succeeded"]'))
    assert {row.get_attribute("data-status") for row in desk.find_all(".export")} == {"succeeded"}


def test_another_users_export_is_neither_listed_nor_opened(desk: Desk):
    theirs = desk.submit("admin", HELD)

    desk.open("/exports")
    assert not desk.find_all(f"#export-{theirs}")
    desk.open(f"/exports/{theirs}")
    assert f"you have no export {theirs}" in desk.find("main").text


def test_no_page_scrolls_sideways_at_375_px(desk: Desk):
    desk.open("/exports?status=succeeded")
    download_page = urlsplit(desk.find(".export a.download").get_attribute("href")).path
    desk.open("/exports?status=queued")
    queued = desk.find(".export a.title").get_attribute("href")  # its page: the progress of a queued export
    desk.driver.set_window_size(375, 800)
    try:
        for path in (*DESK_PAGES, download_page, urlsplit(queued).path, "/exports/unknown", "/signin"):
            desk.open(path)
            widths = desk.driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
            assert widths[0] <= widths[1], f"{path} scrolls sideways at 375 px: {widths}"
    finally:
        desk.driver.set_window_size(1100, 800)


def test_every_action_is_reached_by_tab_with_a_visible_focus(desk: Desk):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    desk.open("/exports")
    actions = desk.driver.execute_script(
        "return Array.from(document.querySelectorAll('a[href], button')).filter(e => e.offsetParent !== null)"
    )
    reached, unmarked = [], []
    for _ in range(len(actions) + 5):  # past the last action, focus leaves the page (the body is active)
        ActionChains(desk.driver).send_keys(Keys.TAB).perform()
        focused = desk.driver.switch_to.active_element
        if focused.tag_name != "body":
            reached.append(focused)
            if desk.driver.execute_script("return getComputedStyle(document.activeElement).outlineStyle") == "none":
                unmarked.append(focused.get_attribute("outerHTML")[:80])
    missed = [a.get_attribute("outerHTML")[:80] for a in actions if a not in reached]
    assert not missed, missed
    assert not unmarked, f"focused without a visible outline: {unmarked}"


# The New export and Template builder tests take their pages' screenshots themselves, filled in.
@pytest.mark.parametrize("path, name", [("/subscriptions", "subscriptions")])
def test_a_screenshot_of_each_other_page_once_it_exists(desk: Desk, path: str, name: str):
    from export_pipelines.automation.subscription_table import SubscriptionTable

    SubscriptionTable(os.environ["EXPORT_SOURCE_DB_URL"]).create()  # `subscriptions init`; last, and left empty
    desk.open(path)
    refusals = desk.find_all("p#message")  # every page exists now: a refusal here is a failure, not a skip
    assert not refusals, f"{path} answers: {refusals[0].text}"
    save_screenshot(desk.driver, name)
