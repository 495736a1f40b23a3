"""Which endpoint URLs a subscription may have: https only, and no address inside the network feeds runs in.

Checked when an office registers (a 422 naming ``url``) and again before each attempt on the addresses the
name resolves to then, since a name can be pointed at an internal address after it was registered (DNS
rebinding). Redirects are never followed (``delivery``): a 3xx is a failed attempt, so an allowed endpoint
cannot bounce a delivery to a refused one.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from harbour.errors import RuleViolation
from services.feeds.webhooks.settings import WebhookSettings

MAX_URL_LENGTH = 2048
# Names that are internal by convention (RFC 6761, RFC 6762, RFC 8375) and common private suffixes.
_INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa", ".intranet", ".corp")

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedAddress(Exception):
    """The endpoint's name resolves to an address that the settings do not allow (a failed attempt)."""


def _refused(detail: str) -> RuleViolation:
    return RuleViolation(detail, field="url")


def _internal(address: IpAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def _is_loopback_name(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, settings: WebhookSettings) -> str:
    """``url`` if an office may register it; a :class:`RuleViolation` naming ``url`` otherwise."""
    if len(url) > MAX_URL_LENGTH:
        raise _refused(f"the url must be at most {MAX_URL_LENGTH} characters")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise _refused("the url must not hold spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _refused("the url is not a URL") from None
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise _refused("the url must name a host")
    if parts.username is not None or parts.password is not None:
        # A password in the URL would be stored, shown back in every read and sent in clear to proxies' logs.
        raise _refused("the url must not hold credentials")
    if parts.fragment:
        raise _refused("the url must not have a fragment")
    if port == 0:
        raise _refused("the url's port must be 1 to 65535")
    loopback = _is_loopback_name(host)
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback and settings.allow_http_localhost):
        raise _refused("the url must be https")
    if loopback and settings.allow_http_localhost:
        return url
    if not settings.allow_private_addresses:
        try:
            address: IpAddress | None = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if address is not None and _internal(address):
            raise _refused("the url's address is not a public one")
        if address is None and ("." not in host or host == "localhost" or host.endswith(_INTERNAL_SUFFIXES)):
            raise _refused("the url's host is an internal name")
    return url


async def check_resolved(url: str, settings: WebhookSettings) -> None:
    """Before an attempt: every address the host resolves to now must be allowed (:class:`RefusedAddress`)."""
    if settings.allow_private_addresses:
        return
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    if settings.allow_http_localhost and _is_loopback_name(host):
        return
    infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    for info in infos:
        if _internal(ipaddress.ip_address(str(info[4][0]).split("%")[0])):
            raise RefusedAddress("the endpoint's host resolves to an internal address")
