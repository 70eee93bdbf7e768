"""Which address counts as the client's: X-Forwarded-For only through trusted proxies."""

from __future__ import annotations

import pytest

from quart_app.config import ConfigError, Settings
from quart_app.web.client_ip import parse_networks, resolve_client_ip

PROXIES = parse_networks(["10.0.0.0/8", "::1"])


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        ("203.0.113.9", None, "203.0.113.9"),
        # An untrusted peer's header is the client's own claim: ignored.
        ("203.0.113.9", "1.2.3.4", "203.0.113.9"),
        # One trusted proxy: the hop it appended is the client.
        ("10.0.0.5", "198.51.100.7", "198.51.100.7"),
        # The client prepended a fake hop; only the proxy's (right-most) entry is believed.
        ("10.0.0.5", "6.6.6.6, 198.51.100.7", "198.51.100.7"),
        # Two trusted proxies in a row: walk past both.
        ("10.0.0.5", "198.51.100.7, 10.1.1.1", "198.51.100.7"),
        ("::1", "2001:db8::1", "2001:db8::1"),
        # Garbage in the header stops the walk there (it is not a trusted proxy).
        ("10.0.0.5", "not-an-ip", "not-an-ip"),
        ("10.0.0.5", "", "10.0.0.5"),
    ],
)
def test_resolve_client_ip(peer: str, forwarded_for: str | None, expected: str) -> None:
    assert resolve_client_ip(peer, forwarded_for, PROXIES) == expected


def test_no_trusted_proxies_means_the_socket_peer() -> None:
    assert resolve_client_ip("127.0.0.1", "1.2.3.4", ()) == "127.0.0.1"


def test_bad_trusted_proxies_setting_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES"):
        Settings.load(environ={"TRUSTED_PROXIES": "10.0.0.0/8, not-a-network"})
    assert Settings.load(environ={"TRUSTED_PROXIES": "10.0.0.0/8, ::1"}).TRUSTED_PROXIES == (
        "10.0.0.0/8",
        "::1",
    )
