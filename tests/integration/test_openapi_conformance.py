"""schemathesis against the real server's ``/openapi.json``: every operation, every check.

Generated requests run every check schemathesis has (5xx, undocumented statuses, content types,
headers and bodies against the document, schema-valid data accepted and schema-violating data
refused, credentials enforced, unsupported methods, and in sequences use-after-free), each
protected one with an account and token of its own, so a deletion, a sign-out or a password
change never spoils the next case. A fuzzer rarely guesses a password or a session id, so each
operation's success is also sent by hand through the same checks, and each protected operation
must refuse a missing or dead token. (max_response_time, off unless given a limit, is a timing
budget, not conformance: the benchmark measures time.)
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pyotp
import pytest
import schemathesis
from hypothesis import settings
from schemathesis import AuthContext, Case

from tests.support.http import extract_csrf_token, unique_password, unique_username
from tests.support.servers import LiveServer

# schemathesis' expected statuses, plus what this API documents (a 5xx fails not_a_server_error
# on its own). A schema-valid body may still break a rule: an empty or common password, a name
# not 3 to 32 characters after NFKC, the configured PASSWORD_MAX_LENGTH. No JSON Schema states
# those, so each body's operation documents its 422, and status_code_conformance fails a 422
# anywhere else. A schema-valid body answered 400 stays a failure.
ACCEPTED = ["2xx", "401", "403", "404", "409", "422", "429"]
# A body past MAX_CONTENT_LENGTH is refused unread with the documented 413: a refusal too.
REFUSED = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
CONFIG = {
    "checks": {
        "positive_data_acceptance": {"expected-statuses": ACCEPTED},
        "negative_data_rejection": {"expected-statuses": REFUSED},
    }
}
# Bounded for CI: the whole module takes about 30 s on two cores, SQLite or PostgreSQL.
FUZZ = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
)
STATEFUL = settings(
    max_examples=25, stateful_step_count=6, deadline=None, derandomize=True, database=None
)
PUBLIC = {
    "POST /api/v1/register",
    "POST /api/v1/tokens",
    "POST /api/v1/password-reset",
    "POST /api/v1/password-reset/confirm",
    "POST /api/v1/tokens/second-factor",
}
# Succeeds only with a token from a mailed link: its success (204) is checked against a real
# SMTP server in tests/recovery/test_password_reset.py::test_the_api_resets_with_the_same_
# guarantees; here the fuzzer and the stateful runs still check every other answer of it.
NEEDS_A_MAILED_LINK = {"POST /api/v1/password-reset/confirm"}
CHALLENGE = 'Bearer realm="api"'
TIMEOUT = 30.0

schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(scope="module")
def api_schema(live_server: LiveServer) -> schemathesis.BaseSchema:
    config = schemathesis.Config.from_dict(CONFIG)
    return schemathesis.openapi.from_url(f"{live_server.base_url}/openapi.json", config=config)


@pytest.fixture
def api(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.base_url, timeout=TIMEOUT) as client:
        yield client


@pytest.fixture(autouse=True)
def node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """schemathesis 4.32's ``from_fixture`` reads and renames ``item._nodeid``, which pytest 9.2
    no longer has (its ``nodeid`` is a property now); give it one to read."""
    request.node._nodeid = request.node.nodeid


@dataclass(frozen=True)
class Account:
    username: str
    password: str
    token: str


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_token(api: httpx.Client, username: str, password: str) -> str:
    response = api.post("/api/v1/tokens", json={"username": username, "password": password})
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def new_account(api: httpx.Client) -> Account:
    """A new account over the API, signed in with a token of its own."""
    username, password = unique_username("st"), unique_password()
    response = api.post("/api/v1/register", json={"username": username, "password": password})
    assert response.status_code == 201, response.text
    return Account(username, password, new_token(api, username, password))


def is_protected(ctx: AuthContext) -> bool:
    return bool(ctx.operation.definition.raw.get("security"))


@schema.auth(refresh_interval=None).apply_to(is_protected)
class FreshAccount:
    """A new account and token for every protected case (no caching): a case that ends its
    token, its sessions or its account changes nothing for the next."""

    def get(self, case: Case, ctx: AuthContext) -> str:
        with httpx.Client(base_url=ctx.operation.base_url or "", timeout=TIMEOUT) as api:
            return new_account(api).token

    def set(self, case: Case, data: str, ctx: AuthContext) -> None:
        case.headers = {**(case.headers or {}), **bearer(data)}


@schema.parametrize()
@FUZZ
def test_generated_requests_pass_every_check(case: Case) -> None:
    case.call_and_validate()


# --- each operation's success, sent by hand -------------------------------------------------


@dataclass(frozen=True)
class Request:
    """A request an operation answers with success: its token (None: sent without one), body
    and path parameters."""

    token: str | None
    body: Any = None
    path_parameters: dict[str, Any] | None = None


Prepare = Callable[[httpx.Client], Request]


def _register(api: httpx.Client) -> Request:
    return Request(None, {"username": unique_username("st"), "password": unique_password()})


def _sign_in(api: httpx.Client) -> Request:
    account = new_account(api)
    body = {"username": account.username, "password": account.password, "name": "schemathesis"}
    return Request(None, body)


def _second_factor(api: httpx.Client) -> Request:
    """An account with two-factor turned on through its pages (a browser's cookie jar, the
    enrolment page's own secret), then the password step of the API's sign-in."""
    account = new_account(api)
    with httpx.Client(base_url=str(api.base_url), timeout=TIMEOUT) as browser:
        token = fetch_csrf(browser, "/login")
        form = {"username": account.username, "password": account.password, "csrf_token": token}
        assert browser.post("/login", data=form).status_code == 303
        page = browser.get("/account/two-factor/totp").text
        (secret,) = re.findall(r'<p class="secret"><code[^>]*>([A-Z2-7 ]+)</code></p>', page)
        enrol = {
            "code": pyotp.TOTP(secret.replace(" ", "")).now(),
            "current_password": account.password,
            "csrf_token": extract_csrf_token(page),
        }
        assert browser.post("/account/two-factor/totp", data=enrol).status_code == 200
    step = api.post(
        "/api/v1/tokens", json={"username": account.username, "password": account.password}
    )
    assert step.status_code == 401, step.text
    # The enrolment used this time step's code: the next step's is the one still unused.
    code = pyotp.TOTP(secret.replace(" ", "")).at(time.time() + 30)
    return Request(None, {"second_factor_token": step.json()["second_factor_token"], "code": code})


def fetch_csrf(client: httpx.Client, path: str) -> str:
    return extract_csrf_token(client.get(path).text)


def _signed_in(body: Callable[[Account], Any] | None = None) -> Prepare:
    def prepare(api: httpx.Client) -> Request:
        account = new_account(api)
        return Request(account.token, None if body is None else body(account))

    return prepare


def _another_token(api: httpx.Client) -> Request:
    account = new_account(api)
    new_token(api, account.username, account.password)
    listed = api.get("/api/v1/sessions", headers=bearer(account.token)).json()
    [other] = [item["id"] for item in listed if not item["current"]]
    return Request(account.token, path_parameters={"session_id": other})


SUCCESS: dict[str, Prepare] = {
    "POST /api/v1/register": _register,
    "POST /api/v1/tokens": _sign_in,
    "POST /api/v1/tokens/second-factor": _second_factor,
    "POST /api/v1/password-reset": lambda api: Request(None, {"login": unique_username("st")}),
    "GET /api/v1/me": _signed_in(),
    "GET /api/v1/sessions": _signed_in(),
    "DELETE /api/v1/sessions/{session_id}": _another_token,
    "DELETE /api/v1/tokens/current": _signed_in(),
    "PUT /api/v1/me/password": _signed_in(
        lambda account: {"current_password": account.password, "new_password": unique_password()}
    ),
    "DELETE /api/v1/me": _signed_in(lambda account: {"password": account.password}),
}


def case_for(api_schema: schemathesis.BaseSchema, label: str, request: Request) -> Case:
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None, f"{label} is not in the document"
    if request.body is None:  # no body at all, not a JSON null
        return operation.Case(path_parameters=request.path_parameters)
    return operation.Case(body=request.body, path_parameters=request.path_parameters)


def test_the_document_protects_every_operation_but_sign_up_sign_in_and_reset(
    api_schema: schemathesis.BaseSchema,
) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    labels = {operation.label for operation in operations}
    assert labels == set(SUCCESS) | NEEDS_A_MAILED_LINK  # a new operation needs a success case
    protected = {op.label for op in operations if op.definition.raw.get("security")}
    assert protected == labels - PUBLIC


@pytest.mark.parametrize("label", sorted(SUCCESS))
def test_each_operation_succeeds_and_passes_every_check(
    api_schema: schemathesis.BaseSchema, api: httpx.Client, label: str
) -> None:
    """The answers a fuzzer rarely reaches (a 201, a deletion's 204) against the document; on a
    protected operation, ignored_auth then sends it again without the token and with a bad one."""
    request = SUCCESS[label](api)
    headers = None if request.token is None else bearer(request.token)
    response = case_for(api_schema, label, request).call_and_validate(headers=headers)
    assert 200 <= response.status_code < 300, (response.status_code, response.text)


@pytest.mark.parametrize("label", sorted(set(SUCCESS) - PUBLIC))
def test_each_protected_operation_refuses_a_missing_or_dead_token(
    api_schema: schemathesis.BaseSchema, api: httpx.Client, label: str
) -> None:
    """A request that succeeds with its token is a documented 401 without one, or with one that
    was revoked, and changes nothing: sent with its token afterwards, it still succeeds."""
    request = SUCCESS[label](api)
    assert request.token is not None
    dead = new_account(api).token
    assert api.delete("/api/v1/tokens/current", headers=bearer(dead)).status_code == 204
    case = case_for(api_schema, label, request)
    invalid = f'{CHALLENGE}, error="invalid_token"'
    for headers, challenge in ((None, CHALLENGE), (bearer(dead), invalid)):
        response = case.call(headers=headers)
        case.validate_response(response, headers=headers)
        assert response.status_code == 401, (response.status_code, response.text)
        assert response.headers["www-authenticate"] == [challenge]
    response = case.call(headers=bearer(request.token))
    assert 200 <= response.status_code < 300, (response.status_code, response.text)


# --- sequences ------------------------------------------------------------------------------


def test_stateful_sequences_pass_every_check(
    api_schema: schemathesis.BaseSchema, live_server: LiveServer
) -> None:
    """Links the document implies (GET /sessions' ids into DELETE /sessions/{session_id}) run
    in sequences, where use_after_free and ensure_resource_availability apply; each sequence
    has an account of its own, with a second token to end."""

    class Workflow(api_schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            with httpx.Client(base_url=live_server.base_url, timeout=TIMEOUT) as api:
                account = new_account(api)
                new_token(api, account.username, account.password)  # one the link may end
            self.token = account.token

        def get_call_kwargs(self, case: Case) -> dict[str, Any]:
            return {"headers": bearer(self.token)}

    Workflow.run(settings=STATEFUL)
