"""Signing in to the pages, and what every page does before its work: the session cookie, CSRF, headers."""

from __future__ import annotations

import time

import jwt

from export_pipelines_tests.desk.conftest import Browser


def test_a_page_sends_a_visitor_without_a_session_to_the_sign_in_and_back(browser: Browser):
    answer = browser.get("/exports?status=failed")

    assert answer.status_code == 303
    assert answer.headers["location"] == "/signin?next=/exports%3Fstatus%3Dfailed"


def test_the_development_sign_in_lists_the_users_with_grants_and_opens_a_session(browser: Browser, api_world):
    signin = browser.get("/signin?next=/exports")
    assert signin.status_code == 200 and "Development sign-in" in signin.text
    assert 'value="analyst"' in signin.text and 'value="admin"' in signin.text

    browser.sign_in("analyst")

    assert "export_session" in browser.cookies
    page = browser.get("/exports")
    assert page.status_code == 200
    assert '<span id="signed-in-as">analyst</span>' in page.text
    assert api_world.finished.run_id in page.text


def test_the_session_cookie_is_httponly_secure_and_samesite(api_world):
    client = Browser(api_world.server.url)
    client.get("/signin")
    answer = client.request(
        "POST", "/signin/dev", data={"user": "analyst", "csrf_token": client.cookies["export_csrf"]}
    )

    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("export_session="))
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "secure", "samesite", "path"} <= flags and "samesite=lax" in cookie.lower()


def test_a_form_without_the_csrf_secret_or_from_another_site_changes_nothing(browser: Browser):
    browser.sign_in("analyst")

    missing = browser.post("/signout", {})
    other_site = browser.post("/signout", csrf_from="/exports", headers={"Origin": "https://evil.example"})

    assert missing.status_code == 403 and "reload the page" in missing.text
    assert other_site.status_code == 403 and "another site" in other_site.text
    assert browser.get("/exports").status_code == 200  # still signed in
    assert browser.post("/signout", csrf_from="/exports").status_code == 303
    assert browser.get("/exports").status_code == 303  # signed out


def test_the_development_sign_in_refuses_a_user_without_grants_and_a_missing_secret(browser: Browser):
    browser.get("/signin")

    stranger = browser.post("/signin/dev", {"user": "mallory"}, csrf_from="/signin")
    forged = browser.post("/signin/dev", {"user": "admin"})

    assert stranger.status_code == 422 and "user: &#39;mallory&#39; holds no grant" in stranger.text
    assert forged.status_code == 403
    assert "export_session" not in browser.cookies


def test_the_application_hands_its_user_over_with_a_short_lived_token(browser: Browser, api_world):
    short = api_world.app.token("analyst", lifetime=60)
    long = api_world.app.token("analyst", lifetime=3600)
    forged = jwt.encode({"sub": "admin", "aud": "export-pipelines", "exp": int(time.time()) + 60}, "x" * 32)

    refused_long = browser.get(f"/signin/app?token={long}")
    refused_forged = browser.get(f"/signin/app?token={forged}")
    assert refused_long.status_code == 401 and "short-lived" in refused_long.text
    assert refused_forged.status_code == 401 and "export_session" not in browser.cookies

    handed = browser.get(f"/signin/app?token={short}&next=/exports%3Fstatus%3Dsucceeded")
    assert handed.status_code == 303 and handed.headers["location"] == "/exports?status=succeeded"
    assert '<span id="signed-in-as">analyst</span>' in browser.get("/exports").text


def test_a_hand_over_never_sends_the_browser_to_another_site(browser: Browser, api_world):
    token = api_world.app.token("analyst", lifetime=60)

    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        answer = browser.get("/signin/app", params={"token": token, "next": target})
        assert answer.headers["location"] == "/exports"


def test_every_page_forbids_inline_scripts_and_other_origins(browser: Browser):
    answers = [browser.get("/signin")]
    browser.sign_in("analyst")
    answers.append(browser.get("/exports"))

    for answer in answers:
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert "form-action 'self'" in policy and "frame-ancestors 'none'" in policy
