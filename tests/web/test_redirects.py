"""The open-redirect guard for ?next=."""

from __future__ import annotations

import pytest
from quart import Quart

from quart_app.web.redirects import is_safe_next, login_url, safe_next


@pytest.mark.parametrize(
    "target", ["/", "/dashboard", "/dashboard?tab=1", "/a/b#frag", "/%2F%2Fevil.example"]
)
def test_same_site_paths_are_safe(target: str) -> None:
    assert is_safe_next(target)
    assert safe_next(target) == target


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "dashboard",
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "\\/evil.example",
        "\\\\evil.example",
        "https:evil.example",
        "https://evil.example",
        "HTTPS://evil.example",
        "javascript:alert(1)",
        " /dashboard",
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r/evil.example",
        "/dash\x00board",
        "//user@evil.example",
        "/\u3000/evil.example",
        "/" + "a" * 3000,
    ],
)
def test_unsafe_targets_fall_back_to_home(target: str | None) -> None:
    assert not is_safe_next(target)
    assert safe_next(target) == "/"


async def test_login_url_keeps_path_readable(app: Quart) -> None:
    async with app.test_request_context("/"):
        assert login_url("/dashboard") == "/login?next=/dashboard"
        assert login_url("/x?a=1&b=2") == "/login?next=/x%3Fa%3D1%26b%3D2"
