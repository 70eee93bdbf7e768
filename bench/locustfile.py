"""Locust users for load-testing a running quart-app (an optional extra: ``pip install
'.[loadtest]'``). Seed the users first, then point Locust at the server, e.g.:

    quart --app quart_app seed-users --count 1000 --prefix load- --password-file pw.txt
    locust -f bench/locustfile.py --headless -u 50 -r 10 -t 60s --host http://127.0.0.1:8000 \\
        --user-prefix load- --user-count 1000 --password-file pw.txt

Every virtual user comes from one address, so lift the server's per-IP limits for the test
(README, "Load testing"). Pick classes by name after the options (``BrowserUser``,
``LoginStormUser``, ``ApiUser``); all three run by default.

A shed answer (503 or 429 with Retry-After) is reported as a failure named after its status:
a load test should see when, and how often, the app refused work.
"""

from __future__ import annotations

import random
import re
from typing import Any

from locust import HttpUser, between, constant, events, task
from locust.exception import StopUser

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--user-prefix", default="load-", help="seeded usernames' prefix")
    parser.add_argument("--user-count", type=int, default=1000, help="how many were seeded")
    parser.add_argument(
        "--password-file", default="", help="file whose first line is the seeded password"
    )


class SeededUser(HttpUser):
    """Signs in as one of the users ``seed-users`` created, through the login form."""

    abstract = True
    password = ""

    def on_start(self) -> None:
        options = self.environment.parsed_options
        if not options.password_file:
            raise StopUser("--password-file is required (the seeded users' password)")
        with open(options.password_file, encoding="utf-8") as source:
            self.password = source.readline().rstrip("\r\n")

    def random_username(self) -> str:
        """One of the seeded names, as ``seed-users`` numbers them."""
        options = self.environment.parsed_options
        width = max(5, len(str(options.user_count - 1)))
        number = random.randrange(options.user_count)  # noqa: S311 - picks a user, not a secret
        return f"{options.user_prefix}{number:0{width}d}"

    def sign_in(self, username: str, password: str) -> bool:
        """GET the form for its CSRF token, POST it; True on the 303 that signs in."""
        self.client.cookies.clear()  # a fresh browser
        with self.client.get("/login", name="GET /login", catch_response=True) as page:
            match = CSRF_INPUT.search(page.text or "")
            if page.status_code != 200 or match is None:
                page.failure(_why(page))
                return False
        form = {"username": username, "password": password, "csrf_token": match.group(1)}
        with self.client.post(
            "/login", data=form, name="POST /login", allow_redirects=False, catch_response=True
        ) as answer:
            if answer.status_code != 303:
                answer.failure(_why(answer))
                return False
        return True


def _why(response: Any) -> str:
    retry_after = response.headers.get("Retry-After")
    if response.status_code in (429, 503) and retry_after:
        return f"shed: {response.status_code} Retry-After {retry_after}"
    return f"status {response.status_code}"


class BrowserUser(SeededUser):
    """A person: signs in once, then reads signed-in pages, and now and then signs out and in."""

    wait_time = between(0.5, 2)

    def on_start(self) -> None:
        super().on_start()
        self.credentials = self.random_username(), self.password
        self.sign_in(*self.credentials)

    def page(self, path: str) -> None:
        with self.client.get(
            path, name=f"GET {path}", allow_redirects=False, catch_response=True
        ) as page:
            if page.status_code == 302:
                page.failure("session lost: redirected to the login page")
                self.sign_in(*self.credentials)
            elif page.status_code != 200:
                page.failure(_why(page))

    @task(8)
    def dashboard(self) -> None:
        self.page("/dashboard")

    @task(2)
    def sessions(self) -> None:
        self.page("/account/sessions")

    @task(1)
    def activity(self) -> None:
        self.page("/account/activity")

    @task(1)
    def sign_out_and_in(self) -> None:
        with self.client.get("/dashboard", name="GET /dashboard", catch_response=True) as page:
            match = CSRF_INPUT.search(page.text or "")
            if page.status_code != 200 or match is None:
                page.failure(_why(page))
                return
        token = {"csrf_token": match.group(1)}
        with self.client.post(
            "/logout", data=token, name="POST /logout", allow_redirects=False, catch_response=True
        ) as answer:
            if answer.status_code != 303:
                answer.failure(_why(answer))
        self.sign_in(*self.credentials)


class LoginStormUser(SeededUser):
    """A login storm: full logins (fresh cookies, form, POST) back to back, as random users."""

    wait_time = constant(0)

    @task
    def log_in(self) -> None:
        self.sign_in(self.random_username(), self.password)


class ApiUser(SeededUser):
    """A client of the JSON API: one bearer token for its run, signed-in reads, then signs out.

    The token lives only in this object and its Authorization headers: it is never part of a
    request's name or a failure message, so it never reaches Locust's stats or logs.
    """

    wait_time = between(0.1, 0.5)
    token: str | None = None

    def on_start(self) -> None:
        super().on_start()
        self.username = self.random_username()
        self.issue_token()

    def issue_token(self) -> None:
        """POST /api/v1/tokens as the seeded user; keep the token of the 201."""
        body = {"username": self.username, "password": self.password, "name": "locust"}
        with self.client.post(
            "/api/v1/tokens", json=body, name="POST /api/v1/tokens", catch_response=True
        ) as answer:
            token = _json(answer).get("token") if answer.status_code == 201 else None
            if not isinstance(token, str):
                answer.failure(_why(answer))
                return
        self.token = token

    def call(self, method: str, path: str) -> None:
        """A signed-in call; a 401 means the token died: note it and get a fresh one."""
        if self.token is None:
            self.issue_token()
            if self.token is None:
                return
        headers = {"Authorization": f"Bearer {self.token}"}
        with self.client.request(
            method, path, name=f"{method} {path}", headers=headers, catch_response=True
        ) as answer:
            if answer.status_code == 401:
                answer.failure("token lost: 401")
                self.token = None
            elif not 200 <= answer.status_code < 300:
                answer.failure(_why(answer))

    @task(4)
    def me(self) -> None:
        self.call("GET", "/api/v1/me")

    @task(1)
    def sessions(self) -> None:
        self.call("GET", "/api/v1/sessions")

    def on_stop(self) -> None:
        if self.token is not None:
            self.call("DELETE", "/api/v1/tokens/current")
            self.token = None


def _json(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
