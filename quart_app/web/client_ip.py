"""The client's IP address: the socket peer, or X-Forwarded-For only through trusted proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from quart import request

from quart_app.state import get_trusted_proxies

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """``TRUSTED_PROXIES`` entries ("10.0.0.5", "10.0.0.0/8", "::1") as networks."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)


def in_networks(address: str, networks: Sequence[Network]) -> bool:
    """Whether ``address`` is an IP address inside one of ``networks`` (anything else: no)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def resolve_client_ip(peer: str, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """Walk X-Forwarded-For from the right, past the proxies we trust, to the first we do not.

    Anyone can send X-Forwarded-For, so believing it unconditionally would let an attacker pick
    a fresh IP for every guess and walk past per-IP throttling. Only hops added by a proxy we
    trust are believed; the left-most entries are the client's claims and count for nothing.
    """
    client = peer
    if not forwarded_for or not in_networks(client, trusted):
        return client
    for hop in reversed([part.strip() for part in forwarded_for.split(",")]):
        if not hop:
            break
        client = hop
        if not in_networks(client, trusted):
            break
    return client


def client_ip(trusted: Sequence[Network]) -> str:
    """This request's client address (empty peer becomes "unknown", never a crash)."""
    peer = request.remote_addr or "unknown"
    return resolve_client_ip(peer, request.headers.get("X-Forwarded-For"), trusted)


def request_ip() -> str:
    """This request's client address under the app's TRUSTED_PROXIES: the one the throttles,
    the activity log and the sessions page all name."""
    return client_ip(get_trusted_proxies())
