"""Keep outgoing HTTP away from internal networks (server-side request forgery).

A webhook URL comes from configuration or from a ticket's recipient, so it must
be treated as hostile: it could point at ``http://169.254.169.254/`` (a cloud
metadata service), at ``http://localhost:6379/`` or at a database on the office
network. This module decides whether a URL may be contacted and, if so, which
checked IP address to connect to:

* :func:`check_url` checks the shape of a URL (scheme, credentials, host syntax)
  without touching the network;
* :func:`classify` says why an IP address is forbidden, or returns ``None``;
* :class:`NetGuard` (and the shortcut :func:`resolve_destination`) resolves the
  host, refuses the URL if *any* of its addresses is forbidden, and returns a
  :class:`Destination` that pins the address the caller must connect to, so
  a second DNS answer (DNS rebinding) can never take effect.

Host literals are read the way browsers and ``inet_aton`` read them, so that
``http://2130706433/``, ``http://0x7f.1/`` and ``http://0177.0.0.1/`` are all
seen for what they are: ``127.0.0.1``.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from typing import TypeAlias

from attrs import field, frozen

from supportflow.errors import ConfigError, UnsafeDestination

__all__ = [
    "Destination",
    "IPAddress",
    "NetGuard",
    "Resolver",
    "check_url",
    "classify",
    "resolve_destination",
]

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver: TypeAlias = Callable[[str, int], Sequence[str]]
"""Resolves ``(host, port)`` to IP address strings, like ``socket.getaddrinfo`` does."""

_DEFAULT_PORTS = {"http": 80, "https": 443}

# Names that are internal by definition; refused before any DNS lookup.
_FORBIDDEN_NAMES = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "ip6-localhost",
        "ip6-loopback",
        "metadata",
        "metadata.google.internal",
        "instance-data",
    }
)
_FORBIDDEN_SUFFIXES = (".localhost", ".internal")

_HOSTNAME_CHARS = re.compile(r"[a-z0-9_-]+")


def _v4(cidr: str) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(cidr)


def _v6(cidr: str) -> ipaddress.IPv6Network:
    return ipaddress.IPv6Network(cidr)


# Checked in order; the first match gives the reason. Sources: RFC 1122, 1918,
# 3927, 5737, 6598, 6890 and the IANA special-purpose address registries.
_IPV4_FORBIDDEN: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_v4("0.0.0.0/32"), "the unspecified address (0.0.0.0)"),
    (_v4("0.0.0.0/8"), "in 'this network' (0.0.0.0/8)"),
    (_v4("10.0.0.0/8"), "private (10.0.0.0/8)"),
    (_v4("100.64.0.0/10"), "carrier-grade NAT shared space (100.64.0.0/10)"),
    (_v4("127.0.0.0/8"), "loopback (127.0.0.0/8)"),
    (_v4("169.254.169.254/32"), "the cloud metadata service (169.254.169.254)"),
    (_v4("169.254.0.0/16"), "link-local (169.254.0.0/16)"),
    (_v4("172.16.0.0/12"), "private (172.16.0.0/12)"),
    (_v4("192.0.0.0/24"), "reserved for IETF protocol assignments (192.0.0.0/24)"),
    (_v4("192.0.2.0/24"), "reserved for documentation (192.0.2.0/24)"),
    (_v4("192.88.99.0/24"), "the deprecated 6to4 relay anycast range (192.88.99.0/24)"),
    (_v4("192.168.0.0/16"), "private (192.168.0.0/16)"),
    (_v4("198.18.0.0/15"), "reserved for benchmarking (198.18.0.0/15)"),
    (_v4("198.51.100.0/24"), "reserved for documentation (198.51.100.0/24)"),
    (_v4("203.0.113.0/24"), "reserved for documentation (203.0.113.0/24)"),
    (_v4("224.0.0.0/4"), "multicast (224.0.0.0/4)"),
    (_v4("255.255.255.255/32"), "the broadcast address (255.255.255.255)"),
    (_v4("240.0.0.0/4"), "reserved (240.0.0.0/4)"),
)

_IPV6_FORBIDDEN: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_v6("::/128"), "the unspecified address (::)"),
    (_v6("::1/128"), "loopback (::1)"),
    (_v6("64:ff9b:1::/48"), "the local-use NAT64 prefix (64:ff9b:1::/48)"),
    (_v6("100::/64"), "the discard-only prefix (100::/64)"),
    (_v6("2001:db8::/32"), "reserved for documentation (2001:db8::/32)"),
    (_v6("2001::/23"), "reserved for IETF protocol assignments (2001::/23)"),
    (_v6("3fff::/20"), "reserved for documentation (3fff::/20)"),
    (_v6("5f00::/16"), "reserved for segment routing (5f00::/16)"),
    (_v6("fc00::/7"), "unique-local (fc00::/7)"),
    (_v6("fe80::/10"), "link-local (fe80::/10)"),
    (_v6("fec0::/10"), "site-local (fec0::/10)"),
    (_v6("ff00::/8"), "multicast (ff00::/8)"),
)

_IPV4_COMPATIBLE = _v6("::/96")
_NAT64_WELL_KNOWN = _v6("64:ff9b::/96")
_GLOBAL_UNICAST = _v6("2000::/3")


def classify(address: IPAddress) -> str | None:
    """Say why ``address`` must not be contacted, or return ``None`` if it may.

    Refused are loopback, private, link-local (including the cloud metadata
    address 169.254.169.254), carrier-grade NAT, unique-local, site-local,
    multicast, unspecified, broadcast, documentation, benchmarking and other
    reserved ranges, and every IPv6 address outside the global unicast block
    ``2000::/3``.

    IPv6 forms that carry an IPv4 address are judged by that IPv4 address:
    IPv4-mapped (``::ffff:a.b.c.d``), IPv4-compatible (``::a.b.c.d``), the
    well-known NAT64 prefix (``64:ff9b::/96``), 6to4 (``2002::/16``) and
    Teredo (``2001::/32``, whose client address is stored inverted; both the
    client and the server address are judged). The local-use NAT64 prefix
    ``64:ff9b:1::/48`` is refused outright, since where it embeds the IPv4
    address depends on the local network's set-up. IPv4-compatible addresses
    are deprecated (RFC 4291) and are refused even when the IPv4 address they
    carry is public.

    Args:
        address: the address to judge (without a zone id).

    Returns:
        A short reason such as ``"loopback (127.0.0.0/8)"``, or ``None``.

    >>> classify(ipaddress.ip_address("10.1.2.3"))
    'private (10.0.0.0/8)'
    >>> classify(ipaddress.ip_address("::ffff:127.0.0.1"))
    'an IPv4-mapped IPv6 address for 127.0.0.1, which is loopback (127.0.0.0/8)'
    >>> classify(ipaddress.ip_address("93.184.216.34")) is None
    True
    """
    if isinstance(address, ipaddress.IPv4Address):
        for network, reason in _IPV4_FORBIDDEN:
            if address in network:
                return reason
        return None
    if address.scope_id:
        address = ipaddress.IPv6Address(address.packed)
    for network6, reason in _IPV6_FORBIDDEN[:2]:
        if address in network6:
            return reason
    mapped = address.ipv4_mapped
    if mapped is not None:
        return _embedded("an IPv4-mapped IPv6 address", mapped)
    if address in _IPV4_COMPATIBLE:
        embedded = ipaddress.IPv4Address(address.packed[-4:])
        return _embedded("a deprecated IPv4-compatible IPv6 address", embedded) or (
            f"a deprecated IPv4-compatible IPv6 address (for {embedded})"
        )
    if address in _NAT64_WELL_KNOWN:
        return _embedded("a NAT64 address", ipaddress.IPv4Address(address.packed[-4:]))
    teredo = address.teredo
    if teredo is not None:
        server, client = teredo
        return _embedded("a Teredo address with client", client) or _embedded(
            "a Teredo address with server", server
        )
    six_to_four = address.sixtofour
    if six_to_four is not None:
        return _embedded("a 6to4 address", six_to_four)
    for network6, reason in _IPV6_FORBIDDEN[2:]:
        if address in network6:
            return reason
    if address not in _GLOBAL_UNICAST:
        return "outside the global unicast range 2000::/3 (reserved by IANA)"
    return None


def _embedded(form: str, embedded: ipaddress.IPv4Address) -> str | None:
    reason = classify(embedded)
    return None if reason is None else f"{form} for {embedded}, which is {reason}"


@frozen
class Destination:
    """A checked place to send an HTTP request to.

    Attributes:
        scheme: ``"http"`` or ``"https"``.
        host: the host name (IDNA-encoded, lower case, no trailing dot) or the
            canonical IP address; it goes into the ``Host`` header, TLS SNI and
            certificate verification.
        port: the TCP port.
        address: the checked IP address to connect to. Connect to this, never
            to ``host``: resolving the name again could give another answer.
        target: the path and query to request (``"/"`` at least).
        addresses: every checked address the host resolved to, ``address``
            first; a client may fall back to the others if it cannot connect.
    """

    scheme: str
    host: str
    port: int
    address: IPAddress
    target: str
    addresses: tuple[IPAddress, ...] = ()

    @property
    def authority(self) -> str:
        """``host:port``, with an IPv6 host in brackets, for messages and logs."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def check_url(url: str) -> urllib.parse.SplitResult:
    """Check that ``url`` is an http(s) URL that may be handed to :class:`NetGuard`.

    This looks at the URL alone, without resolving anything: the scheme must
    be ``http`` or ``https``; credentials (``user:password@``) are refused, as
    are a missing or malformed host, zone ids, control characters,
    backslashes, white space, port 0 and host names that are internal by
    definition (``localhost``, ``*.localhost``, ``*.internal``,
    ``metadata.google.internal``, ...). A numeric host must be a valid IPv4
    address in one of the forms browsers accept (``127.1``, ``0x7f000001``,
    ``0177.0.0.1``). The fragment is dropped. Whether the host's addresses
    may be contacted is decided later, by :meth:`NetGuard.destination`.

    Args:
        url: the URL to check.

    Returns:
        The split URL, without its fragment.

    Raises:
        UnsafeDestination: the URL is refused; the message says why.

    >>> check_url("https://hooks.example.com/in?x=1#top").geturl()
    'https://hooks.example.com/in?x=1'
    >>> check_url("file:///etc/passwd")
    Traceback (most recent call last):
    ...
    supportflow.errors.UnsafeDestination: refused URL scheme 'file': ...
    """
    return _parse(url)[0]


def _parse(url: str) -> tuple[urllib.parse.SplitResult, str | IPAddress, int]:
    """Check ``url`` and return it split, its host (name or address) and its port."""
    if not isinstance(url, str):
        raise UnsafeDestination(
            f"a webhook URL must be a str, got {type(url).__name__}; pass 'https://host/path'"
        )
    if any(ord(char) < 0x21 or char in "\\\x7f" for char in url):
        raise UnsafeDestination(
            "refused URL: it contains white space, a control character or a backslash, "
            "which parsers disagree about; percent-encode them in the path or remove them"
        )
    try:
        split = urllib.parse.urlsplit(url)
        port = split.port
    except ValueError as exc:
        raise UnsafeDestination(
            f"refused URL: it cannot be parsed ({exc}); write it as 'https://host[:port]/path'"
        ) from exc
    scheme = split.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        shown = scheme or "(none)"
        raise UnsafeDestination(
            f"refused URL scheme {shown!r}: only http and https may be used for webhooks; "
            "write the URL as 'https://host/path'"
        )
    if "@" in split.netloc:
        raise UnsafeDestination(
            f"refused {scheme} URL: it carries credentials before '@' in its host part; remove "
            "them and authenticate with the signing secret instead"
        )
    if port == 0:
        raise UnsafeDestination(
            f"refused {scheme} URL: port 0 cannot be connected to; give a port from 1 to 65535"
        )
    host = _parse_host(split)
    return split._replace(scheme=scheme, fragment=""), host, port or _DEFAULT_PORTS[scheme]


def _parse_host(split: urllib.parse.SplitResult) -> str | IPAddress:
    """The host of ``split``: an IP address for literals, else a normalised name."""
    raw = split.hostname
    if not raw:
        raise UnsafeDestination(
            f"refused URL {split.scheme}://{split.netloc}{split.path}: it has no host; "
            "write it as 'https://host/path'"
        )
    if split.netloc.startswith("["):
        address_text, percent, zone = raw.partition("%")
        try:
            address = ipaddress.IPv6Address(address_text)
        except ValueError as exc:
            raise UnsafeDestination(
                f"refused host [{raw}]: not a valid IPv6 address ({exc}); fix the address"
            ) from exc
        if percent:
            reason = classify(address)
            why = f"; {address} is {reason}" if reason else ""
            raise UnsafeDestination(
                f"refused host [{raw}]: it carries a zone id ({_zone(zone)!r}), "
                f"which names a local network interface{why}; use a public address "
                "without a zone id"
            )
        return address
    if "%" in raw:
        raise UnsafeDestination(
            f"refused host {raw!r}: percent-encoded host names are not accepted; "
            "write the host name in plain letters"
        )
    try:
        name = raw if raw.isascii() else raw.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise UnsafeDestination(
            f"refused host {raw!r}: it is not a valid internationalised host name ({exc}); "
            "check the spelling"
        ) from exc
    if name.endswith("."):
        name = name[:-1]
    labels = name.split(".")
    if not name or len(name) > 253 or not all(map(_is_label, labels)):
        raise UnsafeDestination(
            f"refused host {raw!r}: not a valid host name (letters, digits, '-' and '_' in "
            "dot-separated labels of 1 to 63 characters); check the spelling"
        )
    if _ends_in_number(labels):
        numeric = _parse_ipv4(labels)
        if numeric is None:
            raise UnsafeDestination(
                f"refused host {raw!r}: it looks like a numeric IPv4 address but is not a "
                "valid one; write the address as four decimal numbers (203.0.113.7) or use "
                "a host name"
            )
        return numeric
    if name in _FORBIDDEN_NAMES or name.endswith(_FORBIDDEN_SUFFIXES):
        raise UnsafeDestination(
            f"refused host {raw!r}: the name denotes this machine or an internal service; "
            "use the public host name of the webhook receiver"
        )
    return name


def _zone(text: str) -> str:
    """The zone id after the ``%`` of an IPv6 literal (URLs write ``%`` as ``%25``)."""
    return urllib.parse.unquote(f"%{text}")[1:]


def _is_label(label: str) -> bool:
    return 0 < len(label) <= 63 and _HOSTNAME_CHARS.fullmatch(label) is not None


def _ends_in_number(labels: list[str]) -> bool:
    """Whether a browser would read this host as an IPv4 address (WHATWG URL rules)."""
    last = labels[-1]
    return last.isdigit() or _parse_ipv4_number(last) is not None


def _parse_ipv4_number(text: str) -> int | None:
    """One dotted part: ``0x``-prefixed hex, ``0``-prefixed octal or decimal."""
    if not text:
        return None
    digits, radix = text, 10
    if text[:2] == "0x":
        digits, radix = text[2:], 16
    elif len(text) > 1 and text[0] == "0":
        digits, radix = text[1:], 8
    if not digits:
        return 0
    allowed = "0123456789abcdef"[:radix]
    if any(char not in allowed for char in digits):
        return None
    return int(digits, radix)


def _parse_ipv4(labels: list[str]) -> ipaddress.IPv4Address | None:
    """Read 1 to 4 dotted parts as ``inet_aton`` does (``127.1`` is ``127.0.0.1``)."""
    if len(labels) > 4:
        return None
    numbers = [_parse_ipv4_number(label) for label in labels]
    if any(number is None for number in numbers):
        return None
    *leading, last = [number for number in numbers if number is not None]
    if any(number > 255 for number in leading) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for index, number in enumerate(leading):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _system_resolver(host: str, port: int) -> list[str]:
    """Every address ``socket.getaddrinfo`` gives for ``host``, in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _allow_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """Parse an allow-list of CIDR networks and single addresses."""
    if isinstance(entries, str | bytes):
        raise ConfigError(
            f"the allow-list must be a list of networks, got the single string {entries!r}; "
            f"write allow=[{entries!r}]"
        )
    networks: list[Network] = []
    for entry in entries:
        if not isinstance(entry, str):
            raise ConfigError(
                f"allow-list entry {entry!r} is a {type(entry).__name__}; give networks and "
                "addresses as strings such as '10.0.0.0/8' or '127.0.0.1'"
            )
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=True))
        except ValueError as exc:
            raise ConfigError(
                f"allow-list entry {entry!r} is not an IP network or address ({exc}); "
                "write a network as '10.0.0.0/8' (no host bits set) or an address as "
                "'127.0.0.1'; host names cannot be allow-listed"
            ) from exc
    return tuple(networks)


@frozen
class NetGuard:
    """Decides where outgoing webhook requests may go.

    Args:
        allow: networks and addresses that may be contacted even though
            :func:`classify` refuses them (``"127.0.0.1/32"`` for a test server,
            ``"10.20.0.0/16"`` for an internal receiver). Checked here, once.
        resolver: turns ``(host, port)`` into address strings; defaults to
            ``socket.getaddrinfo`` (every address it returns).

    Raises:
        ConfigError: an allow-list entry is not an IP network or address.

    >>> guard = NetGuard(allow=["127.0.0.1/32"])
    >>> guard.destination("http://0x7f.1:8080/hook?a=1").address
    IPv4Address('127.0.0.1')
    >>> NetGuard().destination("http://0x7f.1:8080/hook")
    Traceback (most recent call last):
    ...
    supportflow.errors.UnsafeDestination: refused host 127.0.0.1: ... loopback (127.0.0.0/8); ...
    """

    allow: tuple[Network, ...] = field(default=(), converter=_allow_networks)
    resolver: Resolver | None = field(default=None, repr=False, eq=False)

    def permits(self, address: IPAddress) -> bool:
        """Whether ``address`` may be contacted: allow-listed, or not forbidden."""
        return any(address in network for network in self.allow) or classify(address) is None

    def destination(self, url: str) -> Destination:
        """Check ``url``, resolve its host and return where to connect.

        Every address the host resolves to is checked; if any one of them is
        forbidden (and not allow-listed) the URL is refused, so that a name
        with both a public and an internal address cannot be used to reach
        the internal one.

        Args:
            url: an ``http`` or ``https`` URL.

        Returns:
            The destination, with the checked address to connect to.

        Raises:
            UnsafeDestination: the URL or one of its addresses is refused.
            OSError: the host name could not be resolved (``socket.gaierror``),
                or resolved to nothing. This may pass; try again later.
        """
        split, parsed, port = _parse(url)
        if isinstance(parsed, str):
            host = parsed
            resolver = self.resolver or _system_resolver
            answers = list(resolver(host, port))
            if not answers:
                raise OSError(f"host {host!r} resolved to no addresses")
            addresses = tuple(dict.fromkeys(_answer(host, answer) for answer in answers))
            link = "resolves to"
        else:
            host = str(parsed)
            addresses = (_unmapped(parsed),)
            link = "stands for"
        for address in addresses:
            if any(address in network for network in self.allow):
                continue
            reason = classify(address)
            if reason is not None:
                what = "the address" if str(address) == host else f"it {link} {address}, which"
                raise UnsafeDestination(
                    f"refused host {host}: {what} is {reason}; webhooks may only go to "
                    "public addresses. If this receiver is meant to be reached, add its "
                    "network to the allow-list"
                )
        target = split.path or "/"
        if split.query:
            target = f"{target}?{split.query}"
        return Destination(
            scheme=split.scheme,
            host=host,
            port=port,
            address=addresses[0],
            target=target,
            addresses=addresses,
        )


def _unmapped(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address as plain IPv4; anything else unchanged."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _answer(host: str, answer: str) -> IPAddress:
    """Parse one resolver answer (a zone id, if any, is dropped)."""
    try:
        return _unmapped(ipaddress.ip_address(str(answer).partition("%")[0]))
    except ValueError as exc:
        raise UnsafeDestination(
            f"refused host {host!r}: the resolver answered {answer!r}, which is not an IP "
            "address; the resolver must return address strings such as '203.0.113.7'"
        ) from exc


def resolve_destination(
    url: str, *, allow: Iterable[str] = (), resolver: Resolver | None = None
) -> Destination:
    """Check ``url`` and resolve it to a pinned :class:`Destination`.

    A shortcut for ``NetGuard(allow=allow, resolver=resolver).destination(url)``;
    build a :class:`NetGuard` once when checking many URLs.

    Args:
        url: an ``http`` or ``https`` URL.
        allow: networks and addresses that may be contacted even though they
            are internal, as strings (``"10.0.0.0/8"``, ``"127.0.0.1"``).
        resolver: turns ``(host, port)`` into address strings; defaults to
            ``socket.getaddrinfo``.

    Returns:
        The destination, with the checked address to connect to.

    Raises:
        ConfigError: an allow-list entry is not an IP network or address.
        UnsafeDestination: the URL or one of its addresses is refused.
        OSError: the host name could not be resolved.
    """
    return NetGuard(allow=allow, resolver=resolver).destination(url)
