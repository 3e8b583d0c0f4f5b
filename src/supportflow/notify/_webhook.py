"""The webhook notifier: signed JSON POSTs to receivers that were checked first.

Every send resolves the endpoint's host, refuses it if any address is internal
(see :mod:`supportflow.notify._netguard`), and then connects to the checked
address itself, so the HTTP client never resolves the name a second time and a
DNS answer that changes in between (DNS rebinding) has no effect. For
``https`` the TLS handshake still names, and the certificate is still verified
against, the URL's host name.
"""

from __future__ import annotations

import email.utils
import http.client
import io
import json
import math
import socket
import ssl
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, NoReturn

from supportflow._time import Clock, SystemClock, to_utc
from supportflow.errors import (
    ConfigError,
    DeliveryFailed,
    UnsafeDestination,
    ValidationError,
)
from supportflow.notify._model import Notification, Receipt
from supportflow.notify._netguard import Destination, NetGuard, Resolver, check_url
from supportflow.notify._secret import Secret
from supportflow.notify.signing import _standard_key, github_signature, sign

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["WebhookNotifier"]

try:
    _VERSION = version("supportflow")
except PackageNotFoundError:  # a source tree that was never installed
    _VERSION = "0+unknown"

DEFAULT_USER_AGENT = f"supportflow/{_VERSION} (webhook notifier)"
_SYSTEM_CLOCK = SystemClock()


class _DeadlineReader(io.RawIOBase):
    """Reads a response from a socket, all of it within one time budget.

    A socket timeout only bounds each single wait, so a server that drips a
    byte now and then could hold a request open for ever; this reader shrinks
    the socket's timeout to what is left of the budget before every read.
    """

    def __init__(self, raw: io.RawIOBase, sock: socket.socket, budget: float | None) -> None:
        super().__init__()
        self._raw = raw
        self._sock = sock
        self._deadline = None if budget is None else time.monotonic() + budget

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int | None:
        if self._deadline is not None:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the response did not arrive in full within the read timeout")
            self._sock.settimeout(remaining)
        return self._raw.readinto(buffer)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _DeadlineResponse(http.client.HTTPResponse):
    """An HTTP response that must arrive in full within the socket's timeout."""

    def __init__(
        self,
        sock: socket.socket,
        debuglevel: int = 0,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(sock, debuglevel, method, url)
        self.fp = io.BufferedReader(_DeadlineReader(self.fp.detach(), sock, sock.gettimeout()))


def _open_socket(
    destination: Destination, connect_timeout: float, read_timeout: float
) -> socket.socket:
    """Connect to the destination's checked addresses, in order, never to its name."""
    deadline = time.monotonic() + connect_timeout
    failure: OSError = OSError(f"no address to connect to for {destination.authority}")
    for address in destination.addresses or (destination.address,):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"connecting to {destination.authority} timed out")
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(remaining)
            sock.connect((str(address), destination.port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:
            sock.close()
            failure = exc
            continue
        sock.settimeout(read_timeout)
        return sock
    raise failure


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to a checked address; the ``Host`` header keeps the name."""

    response_class = _DeadlineResponse

    def __init__(
        self, destination: Destination, *, connect_timeout: float, read_timeout: float
    ) -> None:
        super().__init__(destination.host, destination.port, timeout=connect_timeout)
        self.destination = destination
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout

    def connect(self) -> None:
        self.sock = _open_socket(self.destination, self.connect_timeout, self.read_timeout)


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    """An HTTPS connection to a checked address, verified against the host name."""

    default_port = http.client.HTTPS_PORT

    def __init__(
        self,
        destination: Destination,
        *,
        connect_timeout: float,
        read_timeout: float,
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(destination, connect_timeout=connect_timeout, read_timeout=read_timeout)
        self.context = context

    def connect(self) -> None:
        raw = _open_socket(self.destination, self.connect_timeout, self.read_timeout)
        try:
            raw.settimeout(self.connect_timeout)
            secure = self.context.wrap_socket(raw, server_hostname=self.destination.host)
        except BaseException:
            raw.close()
            raise
        secure.settimeout(self.read_timeout)
        self.sock = secure


def _positive(name: str, value: float) -> float:
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


def _retry_after(value: str | None, now: datetime) -> timedelta | None:
    """``Retry-After`` as a delay: delta-seconds, or an HTTP-date relative to ``now``."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        try:
            return timedelta(seconds=int(value))
        except OverflowError:
            return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": HTTP dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(when - now, timedelta(0))


class WebhookNotifier:
    """Delivers notifications as signed JSON POST requests (Standard Webhooks).

    The body is compact JSON with sorted keys, in UTF-8::

        {"data": {...notification.data, "event_version": 1, "subject": "...",
                  "text": "...", "ticket_id": "T-1"},
         "id": "<notification id>", "timestamp": "<event time, ISO 8601>",
         "type": "ticket.<event kind>"}

    Headers: ``webhook-id`` (the notification id, stable across retries, so
    receivers can drop duplicates), ``webhook-timestamp`` (Unix seconds from
    the clock), ``webhook-signature`` (when a secret is set; see
    :mod:`supportflow.notify.signing`), ``X-Hub-Signature-256`` (with
    ``github_style``), ``content-type: application/json`` and ``user-agent``.

    Before every send the endpoint's host is resolved and every address is
    checked; the request then goes to the checked address (the name is never
    resolved again), with the URL's host in the ``Host`` header, in TLS SNI and
    in certificate verification. Redirects are never followed.

    How answers map to results: ``2xx`` returns a :class:`Receipt`; ``429``,
    ``408``, ``425`` and ``5xx`` raise a retryable
    :class:`~supportflow.errors.DeliveryFailed` (with ``retry_after`` from a
    ``Retry-After`` header); ``410 Gone`` raises one with
    ``disable_endpoint=True`` and later sends to that URL fail at once;
    ``3xx`` and other ``4xx`` raise a permanent one. Timeouts and connection
    errors are retryable; a refused destination is permanent.

    Args:
        url: the default endpoint. A recipient on the ``"webhook"`` channel
            whose ``address`` contains ``"://"`` is sent to that URL instead.
        secret: the signing secret (``whsec_<base64>`` is decoded, as Standard
            Webhooks says); ``None`` sends unsigned requests.
        github_style: also send ``X-Hub-Signature-256`` (needs a secret, which
            GitHub-style receivers read as UTF-8 text).
        allow: networks or addresses that may be contacted although they are
            internal, as strings (``"10.20.0.0/16"``, ``"127.0.0.1"``).
        resolver: ``(host, port) -> address strings``; default
            ``socket.getaddrinfo``.
        connect_timeout: seconds to connect (and for the TLS handshake).
        read_timeout: seconds for the whole answer to arrive once the
            request is sent.
        max_response_bytes: at most this much of a response body is read.
        clock: where ``webhook-timestamp`` and ``Retry-After`` dates come from.
        user_agent: the ``User-Agent`` header.
        ssl_context: for ``https``, e.g. to trust a private CA; it must verify
            certificates and host names. Default: ``ssl.create_default_context()``.

    Raises:
        ConfigError: an argument is unusable (bad URL, secret, allow-list
            entry or timeout).
    """

    name = "webhook"
    channels = frozenset({"webhook"})

    def __init__(
        self,
        url: str,
        *,
        secret: Secret | str | bytes | None = None,
        github_style: bool = False,
        allow: Iterable[str] = (),
        resolver: Resolver | None = None,
        connect_timeout: float = 5,
        read_timeout: float = 10,
        max_response_bytes: int = 64 * 1024,
        clock: Clock = _SYSTEM_CLOCK,
        user_agent: str = DEFAULT_USER_AGENT,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        try:
            self._url = check_url(url).geturl()
        except UnsafeDestination as exc:
            raise ConfigError(f"the webhook url is refused: {exc}") from exc
        self._secret: Secret | None = None
        if secret is not None:
            try:
                self._secret = Secret(secret)
                _standard_key(self._secret)
            except ValidationError as exc:
                raise ConfigError(f"the webhook secret is unusable: {exc}") from None
        if github_style and self._secret is None:
            raise ConfigError(
                "github_style=True needs a secret to sign with; pass secret=... or drop "
                "github_style"
            )
        self._github_style = bool(github_style)
        self._guard = NetGuard(allow=allow, resolver=resolver)
        self._connect_timeout = _positive("connect_timeout", connect_timeout)
        self._read_timeout = _positive("read_timeout", read_timeout)
        if (
            not isinstance(max_response_bytes, int)
            or isinstance(max_response_bytes, bool)
            or max_response_bytes < 0
        ):
            raise ConfigError(
                f"max_response_bytes must be a whole number of bytes >= 0, got "
                f"{max_response_bytes!r}"
            )
        self._max_response_bytes = max_response_bytes
        if not isinstance(clock, Clock):
            raise ConfigError(f"clock must have a now() method, got {clock!r}")
        self._clock = clock
        if not isinstance(user_agent, str) or not user_agent.isprintable():
            raise ConfigError(
                f"user_agent must be printable text without line breaks, got {user_agent!r}"
            )
        self._user_agent = user_agent
        if ssl_context is None:
            ssl_context = ssl.create_default_context()
        elif ssl_context.verify_mode != ssl.CERT_REQUIRED or not ssl_context.check_hostname:
            raise ConfigError(
                "ssl_context must verify certificates and host names (verify_mode "
                "CERT_REQUIRED and check_hostname=True); to trust a private CA, use "
                "ssl.create_default_context(cafile=...)"
            )
        self._ssl_context = ssl_context
        self._disabled: set[str] = set()

    def __repr__(self) -> str:
        host = check_url(self._url).hostname
        return (
            f"WebhookNotifier(host={host!r}, signed={self._secret is not None}, "
            f"github_style={self._github_style}, allow={[str(n) for n in self._guard.allow]})"
        )

    @property
    def disabled_endpoints(self) -> frozenset[str]:
        """The URLs that answered ``410 Gone``; sends to them fail at once."""
        return frozenset(self._disabled)

    def close(self) -> None:
        """Nothing to release: every send opens and closes its own connection."""

    def send(self, notification: Notification) -> Receipt:
        """POST ``notification`` to its endpoint and report the receiver's answer.

        Args:
            notification: what to send.

        Returns:
            A receipt with ``detail`` ``"HTTP <status>"`` for a ``2xx`` answer.

        Raises:
            DeliveryFailed: the receiver did not accept it, or could not be
                reached; ``permanent``, ``retry_after`` and
                ``disable_endpoint`` say what to do next.
        """
        url = self._endpoint(notification)
        body = self._body(notification)
        try:
            destination = self._guard.destination(url)
        except UnsafeDestination as exc:
            raise DeliveryFailed(
                f"webhook {notification.id!r} not sent: {exc}", permanent=True
            ) from exc
        except OSError as exc:
            host = check_url(url).hostname
            raise DeliveryFailed(
                f"webhook {notification.id!r} not sent: could not resolve host {host!r} "
                f"({type(exc).__name__}: {exc}); will retry"
            ) from exc
        headers = self._headers(notification, body)
        status, answer = self._post(notification, destination, body, headers)
        return self._outcome(notification, url, destination, status, answer)

    def _endpoint(self, notification: Notification) -> str:
        recipient = notification.recipient
        url = self._url
        if recipient.channel == "webhook" and "://" in recipient.address:
            try:
                url = check_url(recipient.address).geturl()
            except UnsafeDestination as exc:
                raise DeliveryFailed(
                    f"webhook {notification.id!r} not sent: the recipient's URL is refused: {exc}",
                    permanent=True,
                ) from exc
        if url in self._disabled:
            host = check_url(url).hostname
            raise DeliveryFailed(
                f"webhook {notification.id!r} not sent: the endpoint on host {host!r} answered "
                "410 Gone earlier and is disabled; fix the receiver's URL and create the "
                "notifier again",
                disable_endpoint=True,
            )
        return url

    def _body(self, notification: Notification) -> bytes:
        try:
            at = to_utc(notification.at, "notification.at").isoformat()
            payload: dict[str, Any] = {
                "type": f"ticket.{notification.event_kind}",
                "timestamp": at,
                "id": notification.id,
                "data": {
                    **notification.data,
                    "ticket_id": notification.ticket_id,
                    "event_version": notification.event_version,
                    "subject": notification.subject,
                    "text": notification.text,
                },
            }
            text = json.dumps(
                payload, ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
            )
        except (TypeError, ValueError) as exc:
            raise DeliveryFailed(
                f"webhook {notification.id!r} not sent: its payload cannot be written as JSON "
                f"({type(exc).__name__}); keep notification.data to str keys and JSON values "
                "(str, int, float, bool, None, lists, dicts) and give an aware 'at'",
                permanent=True,
            ) from None
        return text.encode("utf-8")

    def _headers(self, notification: Notification, body: bytes) -> dict[str, str]:
        msg_id = notification.id
        if not msg_id or not msg_id.isprintable() or not msg_id.isascii():
            raise DeliveryFailed(
                f"webhook {msg_id!r} not sent: a notification id must be printable ASCII "
                "without line breaks to serve as the webhook-id header",
                permanent=True,
            )
        timestamp = math.floor(to_utc(self._clock.now(), "clock.now()").timestamp())
        headers = {
            "content-type": "application/json",
            "user-agent": self._user_agent,
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
        }
        if self._secret is not None:
            headers["webhook-signature"] = sign(self._secret, msg_id, timestamp, body)
            if self._github_style:
                headers["X-Hub-Signature-256"] = github_signature(self._secret, body)
        return headers

    def _post(
        self,
        notification: Notification,
        destination: Destination,
        body: bytes,
        headers: Mapping[str, str],
    ) -> tuple[int, http.client.HTTPMessage]:
        connection: _PinnedHTTPConnection
        if destination.scheme == "https":
            connection = _PinnedHTTPSConnection(
                destination,
                connect_timeout=self._connect_timeout,
                read_timeout=self._read_timeout,
                context=self._ssl_context,
            )
        else:
            connection = _PinnedHTTPConnection(
                destination,
                connect_timeout=self._connect_timeout,
                read_timeout=self._read_timeout,
            )
        step = "connecting to"
        try:
            connection.connect()
            step = "sending to"
            connection.request("POST", destination.target, body=body, headers=dict(headers))
            step = "waiting for the answer from"
            response = connection.getresponse()
            try:
                if self._max_response_bytes:
                    response.read(self._max_response_bytes)
            finally:
                response.close()
            return response.status, response.headers
        except ssl.SSLCertVerificationError as exc:
            self._unreachable(
                notification,
                destination,
                f"the TLS certificate failed verification ({exc.verify_message})",
                exc,
            )
        except TimeoutError as exc:
            self._unreachable(notification, destination, f"timed out {step} it", exc)
        except (OSError, http.client.HTTPException) as exc:
            self._unreachable(
                notification, destination, f"{type(exc).__name__} while {step} it", exc
            )
        finally:
            connection.close()

    @staticmethod
    def _unreachable(
        notification: Notification, destination: Destination, what: str, cause: BaseException
    ) -> NoReturn:
        raise DeliveryFailed(
            f"webhook {notification.id!r} not delivered to host {destination.authority} "
            f"({destination.address}): {what}; will retry"
        ) from cause

    def _outcome(
        self,
        notification: Notification,
        url: str,
        destination: Destination,
        status: int,
        answer: http.client.HTTPMessage,
    ) -> Receipt:
        where = f"host {destination.authority}"
        prefix = f"webhook {notification.id!r} refused by {where} with HTTP {status}"
        if 200 <= status < 300:
            return Receipt(notification.id, self.name, detail=f"HTTP {status}")
        if 300 <= status < 400:
            raise DeliveryFailed(
                f"{prefix}: a redirect, and redirects are not followed (they could lead to "
                "an internal address); configure the final URL of the receiver",
                permanent=True,
            )
        if status == 410:
            self._disabled.add(url)
            raise DeliveryFailed(
                f"{prefix} Gone: the endpoint no longer exists and is disabled; fix the "
                "receiver's URL",
                disable_endpoint=True,
            )
        retry_after = _retry_after(answer.get("Retry-After"), self._clock.now())
        if status in (408, 425, 429) or 500 <= status < 600:
            wait = f" (it asked to wait {retry_after})" if retry_after is not None else ""
            raise DeliveryFailed(f"{prefix}{wait}; will retry", retry_after=retry_after)
        if 400 <= status < 500:
            raise DeliveryFailed(
                f"{prefix}: the receiver rejects the request, so retrying cannot help; check "
                "the URL, the secret and what the receiver expects",
                permanent=True,
            )
        raise DeliveryFailed(f"{prefix}, an unexpected status; will retry")
