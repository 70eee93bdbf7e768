"""Devices by name: what the sessions and activity pages print for a user-agent string."""

from __future__ import annotations

import pytest

from quart_app.web.user_agents import describe_user_agent

CHROME_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


@pytest.mark.parametrize(
    ("user_agent", "named"),
    [
        (CHROME_LINUX, "Chrome on Linux"),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Safari/605.1.15",
            "Safari on macOS",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "Mobile Safari on iOS",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Mobile Safari/537.36",
            "Chrome Mobile on Android",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
            "Firefox on Windows",
        ),
        (CHROME_LINUX + " Edg/131.0.0.0", "Edge on Linux"),
        ("curl/8.5.0", "curl"),  # a client with no operating system in its string
    ],
)
def test_browsers_and_systems_are_named(user_agent: str, named: str) -> None:
    assert describe_user_agent(user_agent) == named


@pytest.mark.parametrize("user_agent", ["", "quart-app test kit", "x" * 256, "\u00e9\u00e8 \x00"])
def test_what_is_not_recognised_is_unknown(user_agent: str) -> None:
    assert describe_user_agent(user_agent) == "Unknown browser"
    assert describe_user_agent(user_agent, unknown="unknown client") == "unknown client"


def test_an_operators_command_is_named_as_such() -> None:
    assert describe_user_agent("operator: the users lock command") == "The users lock command"
