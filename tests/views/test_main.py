"""Home page and the protected dashboard."""

from __future__ import annotations

from tests.support.auth import AuthActions, Client


async def test_home_signed_out_links_to_login_and_register(client: Client) -> None:
    response = await client.get("/")
    html = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'href="/login"' in html and 'href="/register"' in html
    assert "Log out" not in html


async def test_home_signed_in_shows_username_and_logout_button(
    client: Client, auth: AuthActions
) -> None:
    await auth.register("alice")
    html = await (await client.get("/")).get_data(as_text=True)
    assert "alice" in html
    assert 'action="/logout"' in html and "Log out</button>" in html
    assert 'href="/register"' not in html


async def test_dashboard_signed_out_redirects_to_login_with_next(client: Client) -> None:
    response = await client.get("/dashboard")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/dashboard"


async def test_dashboard_keeps_query_string_in_next(client: Client) -> None:
    response = await client.get("/dashboard?tab=a&b=1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/dashboard%3Ftab%3Da%26b%3D1"


async def test_dashboard_shows_name_and_account_creation_time(
    client: Client, auth: AuthActions
) -> None:
    await auth.register("Bob_1")
    response = await client.get("/dashboard")
    html = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<dd>Bob_1</dd>" in html
    assert "Account created" in html and "UTC" in html


async def test_unknown_page_is_404_page_in_layout(client: Client) -> None:
    response = await client.get("/no-such-page")
    html = await response.get_data(as_text=True)
    assert response.status_code == 404
    assert "404" in html and 'class="site-header"' in html


async def test_wrong_method_is_405_with_allow_header(client: Client, auth: AuthActions) -> None:
    token = await auth.csrf("/login")
    response = await client.post("/dashboard", form={"csrf_token": token})
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    assert "405" in await response.get_data(as_text=True)
