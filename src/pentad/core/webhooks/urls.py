"""Where outbound requests may go. Webhook and integration URLs that resolve to loopback, link-local,
private or otherwise non-public addresses are refused (SSRF) unless their host is allow-listed."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from pentad.core.errors import ValidationFailed


def _refuse(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, fields=[{"field": field, "error": message}])


def check_outbound_url(url: str, allowed_hosts: list[str], *, field: str = "url") -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _refuse(field, "must be an absolute http(s) URL")
    if parts.username or parts.password:
        raise _refuse(field, "must not carry credentials")
    host = parts.hostname.lower()
    if host in {h.lower() for h in allowed_hosts}:
        return url
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80))
    except socket.gaierror:
        raise _refuse(field, f"host {host!r} does not resolve") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global or address.is_multicast:
            raise _refuse(
                field, f"host {host!r} resolves to a non-public address ({address}); allow-list it to use it"
            )
    return url
