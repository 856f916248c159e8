"""SSRF protection: which addresses the fetcher may connect to, and how host names resolve.

Every URL host is turned into IP addresses *before* a connection is made, and every address is
checked:

* a literal IP in any spelling (``127.0.0.1``, ``2130706433``, ``0177.0.0.1``, ``0x7f.1``,
  ``127.1``, ``[::1]``, ``[::ffff:127.0.0.1]``) is read the way browsers and ``inet_aton`` read
  it (:func:`parse_ip_host`), so an encoded private address cannot slip through;
* a name is resolved by an injectable :data:`Resolver` (default: the event loop's
  ``getaddrinfo``) and **every** resolved address must pass; the fetcher then connects to the
  checked address itself, so a second DNS answer (DNS rebinding) cannot swap it;
* refused: loopback, private, link-local, carrier-grade NAT, multicast, reserved, unspecified,
  benchmark and documentation ranges (anything not globally routable), IPv6 forms embedding such
  an IPv4 address (mapped, 6to4, NAT64), and the cloud metadata services (addresses and names).

:class:`HostPolicy` holds the allowlist (host names, ``*.suffix`` wildcards, IP networks) that
lets local sites through; a metadata address needs its exact address in the list.

Example:
    >>> from memagents.web.fetch.addresses import HostPolicy, parse_ip_host
    >>> str(parse_ip_host("0x7f.1"))
    '127.0.0.1'
    >>> policy = HostPolicy.from_entries(["127.0.0.1"])
    >>> policy.address_problem(parse_ip_host("127.0.0.1")) is None
    True
    >>> policy.address_problem(parse_ip_host("10.1.2.3"))
    'a private address'
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from memagents.errors import ConfigError

__all__ = [
    "METADATA_ADDRESSES",
    "METADATA_HOSTS",
    "HostPolicy",
    "IPAddress",
    "Resolver",
    "address_problem",
    "parse_ip_host",
    "system_resolver",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""``async (host, port) -> [ip, ...]``: every address a name resolves to, as strings."""

METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean...
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.123",  # AWS time sync
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::23",
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
    )
)
"""Cloud instance metadata services: refused unless their exact address is allowlisted."""

METADATA_HOSTS: frozenset[str] = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.com",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
        "metadata.packet.net",
    }
)
"""Host names of metadata services: refused before any lookup unless allowlisted by name."""

_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


def parse_ip_host(host: str) -> IPAddress | None:
    """Read a URL host as an IP address, in every spelling browsers and ``inet_aton`` accept.

    IPv6 may be bracketed and carry a zone (``fe80::1%25eth0``; the zone is dropped). IPv4 follows
    the WHATWG URL rules: one to four dot-separated parts, each decimal, octal (leading ``0``) or
    hexadecimal (``0x``), the last part filling the remaining bytes (``127.1``, ``2130706433``).

    Args:
        host: The host part of a URL (no port).

    Returns:
        The address, or None if ``host`` is a name.

    Raises:
        ValueError: ``host`` looks numeric (its last label is a number) but is not a valid IPv4
            address, e.g. ``1.2.3.4.5`` or ``0x1ffffffff``; resolvers would read such hosts in
            surprising ways, so they are refused rather than looked up.

    Example:
        >>> [str(parse_ip_host(h)) for h in ("2130706433", "0177.0.0.1", "127.1", "[::1]")]
        ['127.0.0.1', '127.0.0.1', '127.0.0.1', '::1']
        >>> parse_ip_host("wiki.quessa.test") is None
        True
    """
    name = host.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if ":" in name:
        name = name.split("%", 1)[0]
        try:
            return ipaddress.IPv6Address(name)
        except ValueError:
            raise ValueError(f"{host!r} is not a valid IPv6 address") from None
    name = name.rstrip(".")
    parts = name.split(".")
    if not parts or not _is_number(parts[-1]):
        return None
    if len(parts) > 4 or not all(_is_number(p) for p in parts):
        raise ValueError(f"{host!r} ends in a number but is not a valid IPv4 address")
    numbers = [_number(p) for p in parts]
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        raise ValueError(f"{host!r} has a part out of range for an IPv4 address")
    value = last
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _is_number(part: str) -> bool:
    if part.startswith(("0x", "0X")):
        return all(c in "0123456789abcdefABCDEF" for c in part[2:])
    return part.isdigit() and part.isascii()


def _number(part: str) -> int:
    if part.startswith(("0x", "0X")):
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        if any(c in "89" for c in part):
            raise ValueError(f"{part!r} is not a valid octal number")
        return int(part, 8)
    return int(part)


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, NAT64), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_problem(ip: IPAddress) -> str | None:
    """Why connecting to ``ip`` is refused by default (a short phrase), or None if it is public.

    Example:
        >>> address_problem(ipaddress.ip_address("::ffff:127.0.0.1"))
        'a loopback address'
        >>> address_problem(ipaddress.ip_address("169.254.169.254"))
        'a cloud metadata address'
        >>> address_problem(ipaddress.ip_address("93.184.215.14")) is None
        True
    """
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    inner = _embedded_ipv4(ip)
    if inner is not None:
        return address_problem(inner)
    checks: list[tuple[bool, str]] = [
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT,
         "a carrier-grade NAT (shared) address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "an address that is not globally routable"),
    ]
    return next((why for bad, why in checks if bad), None)


@dataclass(frozen=True)
class HostPolicy:
    """The SSRF allowlist: names and networks the fetcher may reach although they are private.

    Attributes:
        names: Exact host names (lower case, no trailing dot).
        suffixes: Domain suffixes from ``*.example.test`` entries (matching sub-domains only).
        networks: IP networks from ``10.0.0.0/8`` or single-address entries.

    Example:
        >>> policy = HostPolicy.from_entries(["wiki.quessa.test", "*.test", "10.0.0.0/8"])
        >>> policy.allows_name("news.quessa.test"), policy.allows_name("example.com")
        (True, False)
        >>> policy.host_problem("metadata.google.internal")
        'a cloud metadata host name'
    """

    names: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> HostPolicy:
        """Build a policy from allowlist entries (host names, ``*.suffix``, IPs or networks).

        Raises:
            ConfigError: An entry is neither a host name nor an IP address or network.
        """
        names: set[str] = set()
        suffixes: list[str] = []
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip().lower().rstrip(".")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            label = entry.removeprefix("*.")
            if not label or not all(c.isalnum() or c in "-._" for c in label):
                raise ConfigError(
                    f"web allowlist entry {raw!r} is neither a host name ('wiki.site.test', "
                    "'*.test') nor an IP address or network ('127.0.0.1', '10.0.0.0/8'); fix "
                    "MEMAGENTS_WEB_ALLOW_HOSTS or FetchSettings(allow_hosts=...)."
                )
            if entry.startswith("*."):
                suffixes.append("." + label)
            else:
                names.add(label)
        return cls(frozenset(names), tuple(suffixes), tuple(networks))

    def allows_name(self, host: str) -> bool:
        """Whether ``host`` is allowlisted by name (exactly or by a ``*.`` suffix)."""
        name = host.lower().rstrip(".")
        return name in self.names or any(name.endswith(s) for s in self.suffixes)

    def host_problem(self, host: str) -> str | None:
        """Why a host *name* is refused before any lookup (metadata or local names), or None."""
        name = host.lower().rstrip(".")
        if self.allows_name(name):
            return None
        if name in METADATA_HOSTS:
            return "a cloud metadata host name"
        if name in _LOCAL_NAMES or name.endswith(".localhost"):
            return "a local host name"
        return None

    def address_problem(self, ip: IPAddress, *, host: str | None = None) -> str | None:
        """Why connecting to ``ip`` (reached through ``host``) is refused, or None if allowed.

        A metadata address passes only when an allowlist network is exactly that address; other
        refused addresses pass when they fall in an allowlisted network or ``host`` is
        allowlisted by name.
        """
        problem = address_problem(ip)
        if problem is None:
            return None
        if ip in METADATA_ADDRESSES:
            exact = any(n.num_addresses == 1 and ip in n for n in self.networks)
            return None if exact else problem
        if host is not None and self.allows_name(host):
            return None
        candidates = [ip]
        inner = _embedded_ipv4(ip)
        if inner is not None:
            candidates.append(inner)
        for candidate in candidates:
            if any(candidate.version == n.version and candidate in n for n in self.networks):
                return None
        return problem


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve ``host`` with the event loop's ``getaddrinfo`` (every address, in order).

    Raises:
        OSError: The name does not resolve (``socket.gaierror``).
    """
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))
