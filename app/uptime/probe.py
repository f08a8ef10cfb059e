"""One HTTP(S) request for an uptime check, bounded every way a check can hang or
balloon. No database, no Flask.

- Only http:// and https:// addresses, without credentials in them (`check_url`).
- The whole run, redirects and body included, ends at its timeout (at most 30 s): a
  timer shuts the socket at the deadline, so a server that trickles its headers or body a
  byte at a time cannot hold the check longer than its timeout.
- At most MAX_REDIRECTS redirects, and only to the same host and port (http may become
  https); a redirect anywhere else is not followed, and its status is the result.
- At most BODY_CAP bytes of the body are read; the rest is left unread.
- The host is resolved once per request and the connection made to that address, so a
  name cannot resolve to one address when checked and another when used. Link-local
  (169.254.0.0/16, fe80::/10, where cloud metadata services answer), multicast and
  unspecified addresses are refused. Loopback and private addresses are allowed: checks
  are set by administrators, and internal health endpoints are what they check.
- TLS certificates are verified (the system's CAs), with the host name as SNI.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

MAX_TIMEOUT = 30  # seconds
MAX_REDIRECTS = 3
BODY_CAP = 64 * 1024  # bytes read of a body, at most
URL_MAX = 2000
ERROR_MAX = 300
USER_AGENT = "IncidentDesk-Uptime/1.0"
REDIRECTS = {301, 302, 303, 307, 308}
# The AWS metadata service's IPv6 address is not link-local, so it is named.
REFUSED_ADDRESSES = {ipaddress.ip_address("fd00:ec2::254")}


class UnsafeAddress(ValueError):
    """An address a check may not fetch; the message says why and is safe to show."""


@dataclass(frozen=True)
class ProbeResult:
    status_code: int | None  # the final response's, None when there was none
    response_ms: int | None  # from the first connection to the end of the body read
    error: str | None  # what went wrong, None when a response came back
    body_bytes: int = 0  # of the final response, at most BODY_CAP


def check_url(url: str) -> str:
    """The address, trimmed, if a check may fetch it; else UnsafeAddress."""
    url = (url or "").strip()
    if not url:
        raise UnsafeAddress("Enter the address to check, e.g. https://example.org/health.")
    if len(url) > URL_MAX:
        raise UnsafeAddress(f"The address must be {URL_MAX:,} characters or fewer.")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise UnsafeAddress("The address must not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UnsafeAddress("Enter a valid web address, e.g. https://example.org/health.") \
            from error
    if parts.scheme not in ("http", "https"):
        raise UnsafeAddress("The address must start with https:// or http://.")
    if not parts.hostname:
        raise UnsafeAddress("The address must name a host, e.g. https://example.org/health.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeAddress("The address must not contain a user name or password.")
    if port == 0:
        raise UnsafeAddress("The address's port must be between 1 and 65535.")
    _refuse_literal(parts.hostname)
    return url


def _refuse_literal(host: str) -> None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return
    _refuse(address)


def _refuse(address) -> None:
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    if (address.is_link_local or address.is_multicast or address.is_unspecified
            or address in REFUSED_ADDRESSES):
        raise UnsafeAddress(f"Checks may not reach {address} (link-local, multicast or "
                            "unspecified addresses, where metadata services answer).")


def probe(url: str, timeout: float) -> ProbeResult:
    """Fetch `url` with GET, following a few same-host redirects, within `timeout`."""
    timeout = max(0.1, min(float(timeout), MAX_TIMEOUT))
    started = time.monotonic()
    deadline = started + timeout
    current = url
    try:
        check_url(current)
        for hop in range(MAX_REDIRECTS + 1):
            status, location, body = _request(current, deadline)
            if status in REDIRECTS and location and hop < MAX_REDIRECTS:
                target = urljoin(current, location)
                if _same_host(current, target):
                    check_url(target)
                    current = target
                    continue
            break
    except _TimedOut:
        return ProbeResult(None, None, f"No complete answer within {timeout:g} s.")
    except UnsafeAddress as error:
        return ProbeResult(None, None, str(error)[:ERROR_MAX])
    except ssl.SSLError as error:
        return ProbeResult(None, None, _bounded(f"TLS failed: {error.reason or error}"))
    except socket.gaierror as error:
        return ProbeResult(None, None, _bounded(f"The host name did not resolve: {error}"))
    except (http.client.HTTPException, OSError) as error:
        return ProbeResult(None, None, _bounded(f"{type(error).__name__}: {error}"))
    elapsed = int((time.monotonic() - started) * 1000)
    return ProbeResult(status, elapsed, None, body)


def _bounded(text: str) -> str:
    return " ".join(text.split())[:ERROR_MAX]


def _same_host(current: str, target: str) -> bool:
    a, b = urlsplit(current), urlsplit(target)
    if b.scheme not in ("http", "https") or (a.scheme == "https" and b.scheme == "http"):
        return False
    default = {"http": 80, "https": 443}
    return (a.hostname == b.hostname
            and (a.port or default[a.scheme]) == (b.port or default[b.scheme])
            if a.scheme == b.scheme else a.hostname == b.hostname)


class _TimedOut(Exception):
    pass


def _request(url: str, deadline: float) -> tuple[int, str | None, int]:
    """One GET: (status, Location header, bytes of body read)."""
    parts = urlsplit(url)
    host, tls = parts.hostname, parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _TimedOut
    address = _resolve(host, port)
    connection = _PinnedConnection(host, port, address, remaining, tls)
    expired = threading.Event()

    def shut() -> None:
        expired.set()
        connection.shut()

    timer = threading.Timer(remaining, shut)
    timer.daemon = True
    timer.start()
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request("GET", path, headers={
            "User-Agent": USER_AGENT, "Accept": "*/*", "Connection": "close"})
        response = connection.getresponse()
        read = 0
        while read < BODY_CAP:
            chunk = response.read(min(16 * 1024, BODY_CAP - read))
            if not chunk:
                break
            read += len(chunk)
    except (OSError, http.client.HTTPException):
        if expired.is_set():
            raise _TimedOut from None
        raise
    finally:
        timer.cancel()
        connection.close()
    if expired.is_set():  # the socket was shut mid-body: the read ended early, not the body
        raise _TimedOut
    return response.status, response.getheader("Location"), read


def _resolve(host: str, port: int):
    """The first address `host` resolves to that a check may reach."""
    refused = None
    for family, _type, _proto, _name, sockaddr in socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM):
        try:
            _refuse(ipaddress.ip_address(sockaddr[0].split("%", 1)[0]))
        except UnsafeAddress as error:
            refused = error
            continue
        return family, sockaddr
    raise refused or UnsafeAddress(f"{host} did not resolve to any address.")


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to the address resolved above, sending `host` as Host (and
    as SNI and the name the certificate must match, over TLS)."""

    _tls_context = None

    def __init__(self, host: str, port: int, address, timeout: float, tls: bool):
        super().__init__(host, port, timeout=timeout)
        self._address, self._tls = address, tls
        self._lock = threading.Lock()
        self._raw: socket.socket | None = None

    def connect(self) -> None:
        family, sockaddr = self._address
        raw = socket.socket(family, socket.SOCK_STREAM)
        with self._lock:
            self._raw = raw
        raw.settimeout(self.timeout)
        raw.connect(sockaddr)
        if self._tls:
            if _PinnedConnection._tls_context is None:
                _PinnedConnection._tls_context = ssl.create_default_context()
            self.sock = _PinnedConnection._tls_context.wrap_socket(
                raw, server_hostname=self.host)
        else:
            self.sock = raw

    def shut(self) -> None:
        """Called from the deadline's timer: wakes any read or connect with an error."""
        with self._lock:
            raw = self._raw
        if raw is not None:
            with contextlib.suppress(OSError):  # not connected yet: connect's timeout ends it
                raw.shutdown(socket.SHUT_RDWR)
