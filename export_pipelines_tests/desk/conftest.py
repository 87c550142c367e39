"""The desk's pages over real HTTP: the API's deployment (the project's dagster.yaml, whose gate trusts unsigned
submissions, so the development sign-in is on; an application key for the hand-over; one finished export of
analyst's), and a client that signs in the way a browser does."""

from __future__ import annotations

import re

import httpx
import pytest

from export_pipelines_tests.api.conftest import ApiWorld, api_world  # noqa: F401 (a fixture, reused)

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    """An HTTP client that keeps the desk's cookies as a browser on http://127.0.0.1 does.

    httpx sends a Secure cookie only over https, while browsers treat loopback as a secure context and send it
    over http there; so the cookies are kept here by hand, as the browser would.
    """

    def __init__(self, base: str):
        self.http = httpx.Client(base_url=base, timeout=60, follow_redirects=False)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, **options) -> httpx.Response:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()), **options.pop("headers", {})}
        response = self.http.request(method, path, headers=headers, **options)
        self.http.cookies.clear()  # kept here instead (see the class docstring)
        for cookie in response.headers.get_list("set-cookie"):
            name, _, rest = cookie.partition("=")
            value = rest.split(";", 1)[0].strip('"')
            if "max-age=0" in cookie.lower() or "expires=thu, 01 jan 1970" in cookie.lower() or not value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return response

    def get(self, path: str, **options) -> httpx.Response:
        return self.request("GET", path, **options)

    def post(self, path: str, data: dict | None = None, csrf_from: str | None = None, **options) -> httpx.Response:
        """POST a form; ``csrf_from``: the page whose form secret to send (as the browser sends the page's form)."""
        form = dict(data or {})
        if csrf_from is not None:
            form["csrf_token"] = csrf(self.get(csrf_from).text)
        return self.request("POST", path, data=form, **options)

    def sign_in(self, user: str) -> None:
        answer = self.post("/signin/dev", {"user": user, "next": "/exports"}, csrf_from="/signin")
        assert answer.status_code == 303, answer.text


def csrf(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF secret"
    return found[1]


@pytest.fixture
def browser(api_world: ApiWorld):  # noqa: F811
    client = Browser(api_world.server.url)
    try:
        yield client
    finally:
        client.http.close()
