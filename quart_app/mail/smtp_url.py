"""``SMTP_URL`` read once: where and how the sender connects. No part of the URL is echoed in
an error, since it may carry a password."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

SMTP_PORT, SMTPS_PORT = 25, 465


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    host: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool  # smtps://: TLS from the first byte
    require_starttls: bool  # smtp://…?starttls=require: never send in the clear

    def __repr__(self) -> str:  # never the password
        return f"SmtpTarget(host={self.host!r}, port={self.port}, tls={self.implicit_tls})"


def parse_smtp_url(url: str) -> SmtpTarget:
    """Parse ``smtp://[user:password@]host[:port][?starttls=require]`` or ``smtps://…``;
    ValueError (with a message that quotes nothing of the URL) when it is not one."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("must start with smtp:// or smtps://")
    if not parts.hostname:
        raise ValueError("names no host")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has a port that is not a number from 0 to 65535") from None
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = set(query) - {"starttls"}
    if unknown or query.get("starttls", ["require"]) != ["require"]:
        raise ValueError("the only query option is starttls=require")
    implicit_tls = parts.scheme == "smtps"
    if implicit_tls and "starttls" in query:
        raise ValueError("smtps:// is TLS from the start; starttls=require is for smtp://")
    return SmtpTarget(
        host=parts.hostname,
        port=port or (SMTPS_PORT if implicit_tls else SMTP_PORT),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        implicit_tls=implicit_tls,
        require_starttls="starttls" in query,
    )
