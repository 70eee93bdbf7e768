"""Who may read /metrics: a client in METRICS_ALLOW, or one holding METRICS_TOKEN.

Counts of failed logins and shed requests tell an attacker how an attack is going, so everyone
else gets the same 404 as for a page that does not exist. The network is the client's address,
not a proxy's: behind a reverse proxy on the same host every request would otherwise come from
127.0.0.1. A request that a proxy forwarded is allowed by network only when the proxy is in
TRUSTED_PROXIES and said who the client is (X-Forwarded-For); through a proxy nobody declared,
only the token opens it.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from quart import request

from quart_app.config import Settings
from quart_app.web.client_ip import Network, client_ip, in_networks

FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


def may_read_metrics(
    settings: Settings, allowed: Sequence[Network], trusted: Sequence[Network]
) -> bool:
    return _holds_token(settings.METRICS_TOKEN) or _from_allowed_network(allowed, trusted)


def _holds_token(token: str | None) -> bool:
    if not token:
        return False
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())


def _from_allowed_network(allowed: Sequence[Network], trusted: Sequence[Network]) -> bool:
    peer = request.remote_addr or ""
    if in_networks(peer, trusted):
        if not request.headers.get("X-Forwarded-For"):
            return False  # through our proxy, but it did not say for whom
        address = client_ip(trusted)
    elif any(name in request.headers for name in FORWARDING_HEADERS):
        return False  # forwarded by a proxy we do not know: the peer is not the client
    else:
        address = peer
    return in_networks(address, allowed)
