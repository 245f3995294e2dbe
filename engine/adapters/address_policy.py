"""The one outbound address policy: where the product may connect on a process owner's or a manager's behalf.

It governs every HTTP call whose address someone other than the operator chose: BPMN service tasks (a process
owner's URL) and integrator webhooks (a manager's subscription). The operator's own endpoints, set in the
environment (`RMA_SMTP_URL`, `RMA_SMS_WEBHOOK_URL`), are trusted and not checked: the operator chose them.

The rule: a URL is `http://` or `https://`; its host is resolved once, every address it resolves to is checked,
and the connection goes to an address that was checked (no second lookup between the check and the connect, so
a name that answers with a public address first and a private one a moment later cannot slip through). Refused,
unless the host is named in `RMA_SERVICE_TASK_HOSTS` (`OutboundPolicy.allowed_hosts`, `host` or `host:port`):

    loopback (127.0.0.0/8, ::1, `localhost`)     private (10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10)
    link-local (169.254/16 with the cloud         shared, documentation, benchmarking and other non-global
      metadata 169.254.169.254, fe80::/10)          ranges (100.64/10, 192.0.0/24, 198.18/15, ...)
    multicast, reserved, unspecified (0.0.0.0, ::) an IPv4 address inside an IPv6 one (::ffff:a.b.c.d,
                                                    6to4, NAT64, Teredo, ::a.b.c.d) that is any of these

whatever way the address is written (`2130706433`, `0x7f.1`, `017700000001`, `127.1`, `[::ffff:127.0.0.1]`,
a trailing dot, full-width digits). `url_refusal` is the check without DNS (the deploy of a BPMN whose URL is
a literal, a webhook subscription); `opener` does the whole check at connect time. Redirects are never followed
and the environment's HTTP(S)_PROXY is not used (the proxy would resolve the name again).
"""

from __future__ import annotations

import functools
import http.client
import ipaddress
import socket
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

SETTING = "RMA_SERVICE_TASK_HOSTS"
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
# Not global in the IANA registries, or an IPv4 block Python's `is_global` lets through.
_EXTRA_REFUSED = tuple(
    ipaddress.ip_network(n) for n in ("192.0.0.0/24", "64:ff9b:1::/48", "100::/64", "2001:db8::/32", "2001::/23")
)
_METADATA = {ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_V4_COMPATIBLE = ipaddress.ip_network("::/96")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(OSError):
    """The URL's host is, or resolves to, an address the policy refuses; nothing was sent."""


def address_refusal(address: Address) -> str | None:
    """Why the product may not connect to `address` (None: a public address it may connect to)."""
    if address in _METADATA:
        return "a cloud metadata address"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            inner = address_refusal(embedded)
            if inner is not None:
                return f"{inner} (as {embedded} inside an IPv6 address)"
    for refused, label in (
        (address.is_unspecified, "the unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (isinstance(address, ipaddress.IPv6Address) and address.is_site_local, "a private address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (any(address in net for net in _EXTRA_REFUSED if net.version == address.version), "a reserved address"),
        (not address.is_global, "not a public address"),
    ):
        if refused:
            return label
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or (address in _V4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _numeric_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """`host` read the way inet_aton (and so getaddrinfo) reads it: 1-4 parts, each decimal, octal (leading 0)
    or hex (0x), the last filling the bytes left; `2130706433`, `0x7f.1` and `017700000001` are 127.0.0.1."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values = []
    for part in parts:
        lower = part.lower()
        if lower.startswith("0x"):
            digits, base, allowed = lower[2:], 16, "0123456789abcdef"
        elif len(part) > 1 and part.startswith("0"):
            digits, base, allowed = part[1:], 8, "01234567"
        else:
            digits, base, allowed = part, 10, "0123456789"
        if (not digits and base != 16) or any(c not in allowed for c in digits):
            return None
        values.append(int(digits or "0", base))
    *leading, last = values
    if any(v > 255 for v in leading) or last >= 256 ** (4 - len(leading)):
        return None
    number = last
    for i, value in enumerate(leading):
        number |= value << (8 * (3 - i))
    return ipaddress.IPv4Address(number)


def _normalised(host: str) -> str:
    """The host as the resolver will see it: lower case, without a trailing dot, IDNA-mapped (full-width digits
    and letters become ASCII, as `socket.getaddrinfo` maps them)."""
    host = host.strip().lower().rstrip(".")
    if host and not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            pass
    return host.rstrip(".")


def literal_address(host: str) -> Address | None:
    """The address `host` names without any DNS lookup: an IPv4 or IPv6 literal in any form (None: a name)."""
    host = _normalised(host).strip("[]")
    try:
        return ipaddress.ip_address(host.split("%", 1)[0] if ":" in host else host)
    except ValueError:
        return _numeric_ipv4(host) if host and ":" not in host else None


def host_refusal(host: str) -> str | None:
    """Why `host` is refused without a lookup: a local name or a literal address the policy refuses."""
    name = _normalised(host).strip("[]")
    if not name:
        return "no host"
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        return "a loopback address (localhost)"
    address = literal_address(name)
    return address_refusal(address) if address is not None else None


def _entry(host: str, port: int | None = None) -> str:
    host = _normalised(host).strip("[]")
    if port is None:
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def allowlist(entries) -> frozenset[str]:
    """`RMA_SERVICE_TASK_HOSTS` entries normalised for `OutboundPolicy.allowed_hosts` (`host` or `host:port`)."""
    hosts = set()
    for raw in entries:
        raw = raw.strip()
        if not raw:
            continue
        parts = urllib.parse.urlsplit(f"//{raw}")
        try:
            port = parts.port
        except ValueError:
            port = None
        hosts.add(_entry(parts.hostname or raw, port) if parts.hostname else _normalised(raw))
    return frozenset(hosts)


@dataclass(frozen=True)
class OutboundPolicy:
    """The allowlist of hosts the policy lets through whatever they resolve to (the ERP on the LAN)."""

    allowed_hosts: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Any) -> OutboundPolicy:
        return cls(allowlist(settings.service_task_hosts))

    def allows(self, host: str, port: int | None) -> bool:
        """Whether the operator named `host` (with any port) or `host:port` in the allowlist."""
        return bool({_entry(host), _entry(host, port)} & self.allowed_hosts)

    def url_refusal(self, url: object) -> str | None:
        """Why `url` may not be called, as far as it can be told without DNS (None: check it at connect time)."""
        if not isinstance(url, str):
            return "the URL is not a string"
        if any(ord(c) < 33 or ord(c) == 127 for c in url):
            return "the URL contains whitespace or a control character"
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port
        except ValueError as exc:
            return f"'{url}' is not a valid URL ({exc})"
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return f"'{url}' is not an http:// or https:// URL"
        if self.allows(parts.hostname, port or (443 if parts.scheme == "https" else 80)):
            return None
        reason = host_refusal(parts.hostname)
        if reason is None:
            return None
        return f"host {parts.hostname} is {reason}, refused unless {SETTING} names it"

    def addresses(self, host: str, port: int) -> list[tuple[int, tuple]]:
        """Resolve `host` once and check every address: the (family, sockaddr) pairs it may connect to."""
        allowed = self.allows(host, port)
        if not allowed:
            reason = host_refusal(host)
            if reason is not None:
                raise AddressRefused(f"host {host} is {reason}, refused unless {SETTING} names it")
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise OSError(f"host {host} could not be resolved ({exc.strerror or exc})") from None
        found: list[tuple[int, tuple]] = []
        for family, _type, _proto, _name, sockaddr in infos:
            if family not in (socket.AF_INET, socket.AF_INET6) or (family, sockaddr) in found:
                continue
            if not allowed:
                address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
                reason = address_refusal(address)
                if reason is not None:
                    raise AddressRefused(
                        f"host {host} resolves to {address}, {reason}, refused unless {SETTING} names it"
                    )
            found.append((family, sockaddr))
        if not found:
            raise OSError(f"host {host} resolves to no IPv4 or IPv6 address")
        return found

    def connect(self, host: str, port: int, timeout: Any, source_address: Any = None) -> socket.socket:
        """A TCP connection to `host:port` at an address checked by `addresses` (the first that answers)."""
        error: OSError | None = None
        for family, sockaddr in self.addresses(host, port):
            try:
                return _connect_socket(family, sockaddr, timeout, source_address)
            except OSError as exc:
                error = exc
        assert error is not None
        raise error

    def opener(self) -> urllib.request.OpenerDirector:
        """A urllib opener for http:// and https:// only: checked, pinned connections, no redirects, no proxy."""
        opener = urllib.request.OpenerDirector()
        for handler in (
            urllib.request.UnknownHandler(),
            _PinnedHTTPHandler(self),
            _PinnedHTTPSHandler(self),
            urllib.request.HTTPDefaultErrorHandler(),
            NoRedirect(),
            urllib.request.HTTPErrorProcessor(),
        ):
            opener.add_handler(handler)
        return opener


def _connect_socket(family: int, sockaddr: tuple, timeout: Any, source_address: Any) -> socket.socket:
    """Connect a new socket to exactly `sockaddr` (no name in it, so no lookup)."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:  # type: ignore[attr-defined]
            sock.settimeout(timeout)
        if source_address:
            sock.bind(source_address)
        sock.connect(sockaddr)
        return sock
    except BaseException:
        sock.close()
        raise


def refusal_of(exc: BaseException) -> AddressRefused | None:
    """The policy's refusal inside a urllib error (urllib wraps what the connection raised)."""
    reason = getattr(exc, "reason", exc)
    return reason if isinstance(reason, AddressRefused) else exc if isinstance(exc, AddressRefused) else None


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx is an answer to report, not a place to send the request (or a signed payload) again."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to an address the policy checked; the Host header still names the URL's host."""

    def __init__(self, *args: Any, policy: OutboundPolicy, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._policy = policy

    def connect(self) -> None:
        self.sock = self._policy.connect(self.host, self.port, self.timeout, getattr(self, "source_address", None))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """As _PinnedHTTPConnection, then TLS with the URL's host as server name (SNI and certificate check)."""

    def __init__(self, *args: Any, policy: OutboundPolicy, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._policy = policy

    def connect(self) -> None:
        sock = self._policy.connect(self.host, self.port, self.timeout, getattr(self, "source_address", None))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class _PinnedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, policy: OutboundPolicy):
        super().__init__()
        self._policy = policy

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_PinnedHTTPConnection, policy=self._policy), req)


class _PinnedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, policy: OutboundPolicy):
        super().__init__()
        self._policy = policy

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_PinnedHTTPSConnection, policy=self._policy), req)
