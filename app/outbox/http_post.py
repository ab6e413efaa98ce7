"""POSTing a webhook delivery: the only module that imports http.client (the standard
library's client is enough for one small POST, and the app has no HTTP client at run time).

An endpoint's URL is the publisher's to choose, so it must not lead the server to itself
or its network (SSRF): a host that resolves to a loopback, private, link-local, multicast
or reserved address is refused, when the endpoint is registered and again at each
delivery, which connects to the very address it checked (a name that resolved to a public
address a moment ago may resolve to 127.0.0.1 now), keeping the name for the Host header
and TLS. A redirect is an answer, not a new place to POST to: http.client follows none."""

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

READ_BYTES = 2048  # of an answer's body: enough for its excerpt


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer came (refused, timed out, TLS, not allowed)
    body: str
    error: str | None
    # No try will ever get through: not an http(s) URL, or a host that is, or resolves to,
    # an address webhooks may not reach.
    permanent: bool = False

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class AddressRefused(Exception):
    """The host is, or resolves to, an address that webhooks must not reach."""


def _refused(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 scope id is no part of it
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global  # the shared and documentation ranges, among others
    )


def resolve(host: str, port: int, *, allow_private: bool) -> str:
    """The address to connect to for `host`: every address it resolves to must be allowed
    (one private one among them is enough to refuse it). Raises AddressRefused, or OSError
    when it does not resolve."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = [str(info[4][0]) for info in found]
    if not allow_private:
        refused = sorted({a for a in addresses if _refused(a)})
        if refused:
            raise AddressRefused(
                f"{host} resolves to {', '.join(refused)}: a loopback, private, link-local or "
                "reserved address, which webhooks may not reach (PODPASS_WEBHOOK_ALLOW_PRIVATE)"
            )
    return addresses[0]


def check_url(url: str, *, allow_private: bool) -> None:
    """At registration: refuse a URL whose host is or resolves to a refused address. A name
    that does not resolve yet is let through; each delivery checks again."""
    parts = urlsplit(url)
    try:
        resolve(parts.hostname or "", _port(parts.scheme, parts.port), allow_private=allow_private)
    except (OSError, ValueError):  # not resolvable now
        return


def _port(scheme: str, port: int | None) -> int:
    return port or (443 if scheme == "https" else 80)


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to `address`, checked already, instead of resolving the host again."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """As _PinnedHTTP, with TLS for the host's name (SNI, and its certificate checked)."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        self.tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self.tls)
        self.address = address

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        try:
            self.sock = self.tls.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise


def _read(response: Any) -> str:
    return bytes(response.read(READ_BYTES)).decode("utf-8", "replace")


def post(
    url: str, body: bytes, headers: dict[str, str], *, timeout: float, allow_private: bool
) -> Answer:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Answer(None, "", f"not an http(s) URL: {url}", permanent=True)
    try:
        port = _port(parts.scheme, parts.port)
        address = resolve(parts.hostname, port, allow_private=allow_private)
    except AddressRefused as exc:
        return Answer(None, "", f"{type(exc).__name__}: {exc}", permanent=True)
    except (OSError, ValueError) as exc:  # no such host (yet), a bad port
        return Answer(None, "", f"{type(exc).__name__}: {exc}")
    pinned = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
    connection = pinned(parts.hostname, port, address, timeout)
    path = parts.path or "/"
    try:
        connection.request("POST", f"{path}?{parts.query}" if parts.query else path, body, headers)
        response = connection.getresponse()
        return Answer(response.status, _read(response), None)
    except (OSError, http.client.HTTPException) as exc:
        return Answer(None, "", f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()
