"""Which poster URLs may be fetched: the private-address (SSRF) guard.

Only http(s) URLs with a host are fetched. Unless private hosts are allowed, the host must resolve solely to
public addresses: loopback, private, link-local, shared, multicast and reserved addresses are refused, also
when an IPv6 address embeds one (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo). posters.fetch applies
`check_url` to every redirect hop and `refusal_reason` again to the addresses it actually dials.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from ..errors import HOST_NOT_FOUND, PRIVATE_ADDRESS, FetchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix: the IPv4 is the last 32 bits
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215 local-use prefix: never public
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d


class HostNotFound(Exception):
    """The resolver has no address for a host; the message names the host (no URL)."""


def check_url(url: str, *, allow_private_hosts: bool) -> None:
    """Refuse non-http(s) URLs, and with allow_private_hosts=False hosts with a non-public address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"{url}: only http:// and https:// URLs with a host can be fetched")
    if allow_private_hosts:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise FetchError(f"{url}: invalid URL ({exc})") from exc
    try:
        addresses = resolve_addresses(parts.hostname, port)
    except HostNotFound as exc:
        raise FetchError(f"{url}: {exc}", kind=HOST_NOT_FOUND) from exc
    reason = refusal_reason(parts.hostname, addresses)
    if reason:
        raise FetchError(f"{url}: refused: {reason}", kind=PRIVATE_ADDRESS)


def resolve_addresses(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (an IP literal resolves to itself); HostNotFound when there is none."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise HostNotFound(f"the host name {host!r} could not be found ({why})") from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo server and client)."""
    if address.version == 4:
        return []
    found = [a for a in (address.ipv4_mapped, address.sixtofour) if a is not None]
    if address.teredo:
        found.extend(address.teredo)
    if address in _NAT64 or address in _IPV4_COMPATIBLE:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF))
    return found


def is_public_address(address: IPAddress) -> bool:
    """A globally routable unicast address; for IPv6 also every IPv4 address embedded in it."""
    candidates: list[IPAddress] = [address, *embedded_ipv4(address)]
    if address.version == 6:
        if address in _NAT64_LOCAL:
            return False
        if address in _NAT64 or address.ipv4_mapped is not None:
            # only a wrapper (DNS64 networks show every IPv4-only host so): the IPv4 inside decides
            candidates = candidates[1:]
    # Python's is_global alone is not enough: it calls multicast and (before 3.12) NAT64, 6to4 and
    # IPv4-compatible forms of 127.0.0.1 "global".
    for candidate in candidates:
        if not candidate.is_global or candidate.is_multicast or candidate.is_reserved or candidate.is_unspecified:
            return False
    return True


def refusal_reason(host: str, addresses: list[IPAddress]) -> str | None:
    """Why a host resolving to `addresses` must not be fetched (None when every address is public)."""
    for address in addresses:
        if not is_public_address(address):
            return f"host {host!r} resolves to non-public address {address} (loopback, private, link-local or reserved)"
    return None
