"""Where webhooks may be sent. Checked when a subscription is created or changed (the URL's
shape and, when the host is an address or resolves now, its addresses) and again right before
every send on the freshly resolved addresses; the connection then goes to the address that was
checked (Host header and TLS SNI carry the name), so DNS rebinding between check and connect
cannot redirect it. Redirects are never followed."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata endpoints, refused even when private addresses are allowed.
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
# NAT64 (RFC 6052's well-known prefix): the last 32 bits are the IPv4 address a NAT64 gateway
# connects to, so 64:ff9b::7f00:1 reaches 127.0.0.1 through it.
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")


class UrlRefused(ValueError):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent


def parse_url(url: str, *, allow_http: bool) -> Target:
    """The URL's shape: http(s) only (https unless allowed), a host, no credentials."""
    if any(ord(c) <= 0x20 or ord(c) >= 0x7F for c in url):
        raise UrlRefused(
            "the URL must be ASCII without spaces or control characters "
            "(percent-encode the path; IDN hosts in punycode)",
            "invalid_url",
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"not a valid URL: {exc}", "invalid_url") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlRefused("the URL must use https (or http where allowed)", "unsupported_scheme")
    if scheme == "http" and not allow_http:
        raise UrlRefused(
            "the URL must use https (http is allowed only with PULS_WEBHOOKS_ALLOW_HTTP=true)",
            "https_required",
        )
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UrlRefused("the URL must not contain credentials", "credentials_in_url")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UrlRefused("the URL has no host", "invalid_url")
    if parts.fragment:
        raise UrlRefused("the URL must not have a fragment", "invalid_url")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme, host, port or (443 if scheme == "https" else 80), path)


def literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address carries to its destination (IPv4-mapped, NAT64, 6to4),
    which is what the checks must judge; other addresses as they are."""
    if not isinstance(address, ipaddress.IPv6Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    return address


def address_refusal(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why `address` may not receive webhooks, or None when it may."""
    address = embedded_ipv4(address)
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified:
        return "an unspecified address"
    if allow_private:
        return None
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    if address.is_reserved or not address.is_global:
        return "a reserved, non-public address"
    return None


def check_address(address: IPAddress, host: str, *, allow_private: bool) -> None:
    reason = address_refusal(address, allow_private=allow_private)
    if reason is not None:
        shown = host if str(address) == host else f"{host} ({address})"
        raise UrlRefused(f"{shown} is {reason}; webhooks are not sent there", "forbidden_address")


async def resolve(host: str, port: int) -> list[IPAddress]:
    if (literal := literal_address(host)) is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UrlRefused(f"{host} does not resolve: {exc}", "unresolvable_host") from None
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UrlRefused(f"{host} does not resolve", "unresolvable_host")
    return addresses


async def resolve_allowed(target: Target, *, allow_private: bool) -> IPAddress:
    """The address to connect to: every address the name resolves to must be allowed (one bad
    record refuses the host, so a resolver cannot pick the bad one later)."""
    addresses = await resolve(target.host, target.port)
    for address in addresses:
        check_address(address, target.host, allow_private=allow_private)
    return addresses[0]


async def check_url_at_creation(url: str, *, allow_http: bool, allow_private: bool) -> None:
    """Shape and addresses. A name that does not resolve yet is accepted (the send-time check
    refuses it then); a name or literal that resolves to a forbidden address is refused now."""
    target = parse_url(url, allow_http=allow_http)
    if target.host.lower() in ("localhost", "localhost.localdomain") and not allow_private:
        raise UrlRefused(f"{target.host} is a loopback address", "forbidden_address")
    try:
        await asyncio.wait_for(resolve_allowed(target, allow_private=allow_private), timeout=5)
    except UrlRefused as exc:
        if exc.code != "unresolvable_host":
            raise
    except TimeoutError:
        pass


def host_header(target: Target) -> str:
    default = 443 if target.scheme == "https" else 80
    host = f"[{target.host}]" if ":" in target.host else target.host
    return host if target.port == default else f"{host}:{target.port}"
