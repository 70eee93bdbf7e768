"""What every page shares: the site's name, the account menu, the footer; the security page;
and /login and /register for a browser that is already signed in."""

from __future__ import annotations

import re
from typing import Any

import pytest

from quart_app import create_app
from quart_app.config import ConfigError, Settings
from quart_app.web.admission import busy_page
from quart_app.web.templating import ACCOUNT_PAGES, app_version
from tests.support.auth import AuthActions, Client


async def test_every_page_names_the_site_and_links_the_security_page(client: Client) -> None:
    for path in ("/", "/login", "/register", "/security", "/no-such-page"):
        html = await (await client.get(path)).get_data(as_text=True)
        assert "· Latchkey</title>" in html, path
        assert '<footer class="site-footer">' in html and 'href="/security"' in html, path
        assert f"version {app_version()}" in html, path
        assert "Quart App" not in html, path


async def test_the_site_name_is_a_setting_and_is_escaped(app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "SITE_NAME": "Acme <Sign-in>"})
    async with app.test_app():
        html = await (await app.test_client().get("/login")).get_data(as_text=True)
    assert "Log in · Acme &lt;Sign-in&gt;</title>" in html
    assert "<Sign-in>" not in html
    assert "Acme &lt;Sign-in&gt;" in busy_page("Acme <Sign-in>")


@pytest.mark.parametrize("name", ["", "   ", "x" * 61, "line\nbreak"])
def test_a_site_name_that_cannot_be_shown_stops_the_app(name: str) -> None:
    with pytest.raises(ConfigError, match="SITE_NAME must be 1 to 60 printable characters"):
        Settings.load({}, {"SITE_NAME": name})


async def test_the_security_page_is_public_and_not_cached_for_others(client: Client) -> None:
    response = await client.get("/security")
    html = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Argon2id" in html and "never stored" in html
    assert response.headers["Cache-Control"] == "no-store"  # the header shows who signed in


async def test_signed_in_pages_carry_the_account_menu_and_signed_out_ones_do_not(
    client: Client, make_user: Any, signed_in_client: Any
) -> None:
    signed_out = await (await client.get("/")).get_data(as_text=True)
    assert "account-menu" not in signed_out
    member = await signed_in_client(await make_user("alice"))
    html = await (await member.get("/account/sessions")).get_data(as_text=True)
    assert '<details class="account-menu">' in html
    for _endpoint, label in ACCOUNT_PAGES:
        assert f">{label}</a>" in html
    assert '<a href="/account/sessions" aria-current="page">Sessions</a>' in html
    assert 'action="/logout"' in html  # log out stays one click away, outside the menu


@pytest.mark.parametrize("path", ["/login", "/register"])
async def test_a_signed_in_browser_is_told_who_it_is_instead_of_a_form(
    path: str, make_user: Any, signed_in_client: Any
) -> None:
    member = await signed_in_client(await make_user("alice"))
    response = await member.get(path, query_string={"next": "/account/sessions"})
    html = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert "You are already signed in" in html and "<strong>alice</strong>" in html
    assert 'type="password"' not in html
    assert 'href="/account/sessions">Continue as alice' in html
    unsafe = await member.get(path, query_string={"next": "https://evil.example/"})
    assert 'href="/dashboard">Continue as alice' in await unsafe.get_data(as_text=True)


async def test_signing_out_from_that_page_leads_back_to_the_form(client: Client) -> None:
    auth = AuthActions(client)
    assert (await auth.register("bob")).status_code == 303
    assert "You are already signed in" in await (await client.get("/login")).get_data(True)
    assert (await auth.logout()).status_code == 303
    html = await (await client.get("/login")).get_data(as_text=True)
    assert 'type="password"' in html


async def test_the_throttle_page_says_it_once_with_the_wait(app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "THROTTLE_LOGIN_PER_MINUTE": 1})
    async with app.test_app():
        auth = AuthActions(app.test_client())
        await auth.login("nobody", "some password here")
        response = await auth.login("nobody", "some password here")
        html = await response.get_data(as_text=True)
    assert response.status_code == 429
    wait = response.headers["Retry-After"]
    sentence = f"Too many attempts came from your network: wait {wait} second"
    assert sentence in html
    assert html.lower().count("wait") == 1


def sentences_of(page: str) -> list[str]:
    """The error card's own paragraphs: not the eyebrow, not the buttons."""
    card = page[page.index('<section class="card"') : page.index("</section>")]
    paragraphs = re.findall(r"<p>(.*?)</p>", card, re.S)
    return [" ".join(text.split()) for text in paragraphs]


@pytest.mark.parametrize(
    ("path", "method", "said"),
    [
        ("/no-such-page", "GET", "There is no page at this address: check it for typos"),
        ("/dashboard", "DELETE", "This address does not take that kind of request: use"),
        ("/login", "POST", "This form had expired or came from another site: reload the page"),
    ],
)
async def test_each_error_page_says_one_sentence_with_what_to_do(
    client: Client, path: str, method: str, said: str
) -> None:
    response = await client.open(path, method=method, form={"csrf_token": "forged"})
    assert response.status_code >= 400
    (sentence,) = sentences_of(await response.get_data(as_text=True))
    assert sentence.startswith(said) and sentence.endswith(".")
    assert sentence.count(".") == 1  # one sentence, not a description and a hint
