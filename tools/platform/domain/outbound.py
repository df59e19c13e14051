"""Which URLs and addresses the platform may send a request to when a user or a lender chose them
(today: a provider's ``webhook_url``). Without this a lender could aim the platform's signed POSTs at
the cloud metadata service, the private network or the Onasis registry on the same host (SSRF).

Only public unicast addresses are allowed. Loopback, and plain http, only when the deployment allows
local receivers (``CAAS_WEBHOOK_ALLOW_LOCAL``: the embedded default and the sandbox). IPv6 addresses
that carry an IPv4 address (IPv4-mapped, NAT64, 6to4, Teredo) are judged by that IPv4 address too.
The same rule runs at registration (on the URL's literal host) and at send time on every address the
name resolves to and on the address actually connected to (so DNS rebinding cannot slip through).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

__all__ = ["address_problem", "url_problem"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# A name whose last label has no letter is not a DNS name: resolvers read "2130706433" or "0x7f.1" as
# IPv4 addresses, so such a host is judged as unknown rather than trusted as a name.
_DNS_NAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z]([a-z0-9-]{0,61}[a-z0-9])?\.?$"
)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    found = []
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    return found


def _kind(ip: Address) -> str | None:
    """What makes ``ip`` non-public, or None for a public unicast address."""
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_reserved:
        return "reserved"
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "reserved"
    return None


def address_problem(address: str, *, allow_local: bool) -> str | None:
    """Why the platform must not connect to ``address`` (an IP address as text), or None."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone id says nothing of the kind
    except ValueError:
        return f"{address} is not an IP address"
    judged: list[Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv4-mapped or NAT64 address is the IPv4 address it carries (its own prefix reads as
        # private or reserved); the other forms are judged as themselves and as what they carry.
        if ip.ipv4_mapped is not None:
            judged = [ip.ipv4_mapped]
        elif ip in _NAT64:
            judged = [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
        else:
            judged = [ip, *_embedded_ipv4(ip)]
    for candidate in judged:
        kind = _kind(candidate)
        if kind == "loopback" and allow_local:
            continue
        if kind is not None:
            article = "an" if kind[0] in "aeiou" else "a"
            return f"{address} is {article} {kind} address; webhooks go only to public addresses"
    return None


def url_problem(url: str, *, allow_local: bool) -> str | None:
    """Why ``url`` cannot be a receiver the platform POSTs to, judged without DNS, or None. A host
    name is judged again on what it resolves to when a request is sent."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port out of range raises here
    except ValueError:
        return "is not a valid URL"
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        return "must be an absolute https:// URL"
    if parts.scheme == "http" and not allow_local:
        return "must use https (plain http is allowed only with CAAS_WEBHOOK_ALLOW_LOCAL)"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials; the platform signs every request instead"
    try:
        host = host.encode("idna").decode("ascii").rstrip(".")  # bücher.de as xn--bcher-kva.de
    except UnicodeError:
        return "must name its host as a DNS name or a standard IP address"
    if host == "localhost" or host.endswith(".localhost"):
        return None if allow_local else "must not point at localhost; webhooks go only to public addresses"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _DNS_NAME.match(host):
            return "must name its host as a DNS name or a standard IP address"
        return None
    problem = address_problem(host, allow_local=allow_local)
    return None if problem is None else f"points at {problem}"
