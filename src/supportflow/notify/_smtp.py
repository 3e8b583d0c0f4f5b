"""The e-mail notifier: one message per notification, over SMTP.

>>> notifier = SMTPNotifier.from_url(
...     "smtp://desk:hunter2@mail.example.com?sender=desk@example.com"
... )
>>> notifier
SMTPNotifier(host='mail.example.com', port=587, sender='desk@example.com',
             tls='starttls', username='desk')
>>> "hunter2" in repr(notifier)
False
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import re
import smtplib
from collections.abc import Callable
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from ssl import SSLContext, SSLSocket, create_default_context
from typing import Literal, NoReturn
from urllib.parse import parse_qsl, unquote, urlsplit

from supportflow._time import ensure_aware
from supportflow.errors import ConfigError, DeliveryFailed, HeaderInjection, ValidationError
from supportflow.notify._headers import (
    check_address,
    check_display_name,
    check_domain,
    check_header_text,
)
from supportflow.notify._model import Notification, Receipt
from supportflow.notify._secret import Secret

__all__ = ["SMTPNotifier"]

# RFC 5322 atext without "%", which message ids use for escapes (see _id_left).
_ID_ATEXT_CLASS = r"[A-Za-z0-9!#$&'*+\-/=?^_`{|}~]"
_ID_ATEXT = re.compile(_ID_ATEXT_CLASS)
_ID_DOT_ATOM = re.compile(rf"{_ID_ATEXT_CLASS}+(?:\.{_ID_ATEXT_CLASS}+)*")
_QUEUE_ID = re.compile(r"queued as\s+([A-Za-z0-9._-]+)", re.IGNORECASE)
_CONTROL = re.compile("[\x00-\x1f\x7f]")

# Event kinds that start a ticket's conversation: their message is no reply.
_THREAD_STARTS = frozenset({"opened"})

# Non-ASCII text is sent quoted-printable or base64, so no server needs 8BITMIME.
_POLICY = SMTP_POLICY.clone(cte_type="7bit")

_URL_OPTIONS = ("allow_plaintext_auth", "domain", "sender", "sender_name", "starttls", "timeout")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_REPLY_LIMIT = 200


class _RefusedHeader(HeaderInjection, DeliveryFailed):
    """A header value was refused: a HeaderInjection that is also a permanent failure."""

    def __init__(self, message: str) -> None:
        DeliveryFailed.__init__(self, message, permanent=True)


class _InvalidNotification(ValidationError, DeliveryFailed):
    """A notification cannot become an e-mail: a ValidationError and a permanent failure."""

    def __init__(self, message: str) -> None:
        DeliveryFailed.__init__(self, message, permanent=True)


class SMTPNotifier:
    """Delivers ``email`` notifications through an SMTP server.

    Each :meth:`send` opens one connection, optionally upgrades it with
    STARTTLS (or uses implicit TLS with ``ssl=True``), logs in when a username
    is configured, submits one message and hangs up.

    The message carries ``From``, ``To``, ``Subject``, ``Date`` (the
    notification's instant), ``Message-ID: <{notification.id}@{domain}>`` (the
    same on every retry, so receivers can drop duplicates) and
    ``Auto-Submitted: auto-generated`` (RFC 3834, so vacation responders stay
    quiet). When the notification has a ``thread``, every message of that
    ticket refers to the synthetic anchor ``<{thread}@{domain}>``: the first
    one (event kind ``"opened"``) sets ``References`` only, since it replies
    to nothing; all later ones set ``In-Reply-To`` and ``References``. Mail
    clients then show a ticket's messages as one conversation. Ids that are
    not valid message-id text are escaped as ``%XX`` (never changing a valid
    id), so the header is always well-formed.

    The body is ``text/plain``, with a ``text/html`` alternative when the
    notification has ``html``. Non-ASCII text is sent quoted-printable or
    base64, so any server accepts it.

    Credentials are never sent over a connection without TLS: a username
    without ``starttls`` or ``ssl`` is refused unless
    ``allow_plaintext_auth=True``, which exists for test servers on loopback.

    Args:
        host: the SMTP server's host name or IP address.
        port: its port: 587 for submission with STARTTLS, 465 for implicit
            TLS, 25 for relaying.
        sender: the ``From`` address (and envelope sender).
        sender_name: a display name for ``From``.
        username: log in as this user. Needs ``password``.
        password: the password; stored as a :class:`Secret`.
        starttls: upgrade the connection with STARTTLS before anything else
            (ignored when ``ssl`` is true). If the server does not offer it,
            sending fails rather than falling back to plain text.
        ssl: use implicit TLS (``smtplib.SMTP_SSL``).
        ssl_context: the TLS settings; by default
            :func:`ssl.create_default_context`, which checks the certificate
            and host name.
        timeout: seconds to wait for the network on each operation.
        domain: the right-hand side of ``Message-ID`` and threading ids;
            by default the sender's domain.
        allow_plaintext_auth: allow logging in without TLS. Only for test
            servers on loopback: the password would cross the network readable.

    Raises:
        ConfigError: an option has a bad value, or credentials would be sent
            in plain text.
        HeaderInjection: ``sender`` or ``sender_name`` would break a header.
    """

    name: str = "smtp"
    channels: frozenset[str] = frozenset({"email"})

    __slots__ = (
        "_allow_plaintext_auth",
        "_context",
        "_domain",
        "_host",
        "_password",
        "_port",
        "_sender",
        "_sender_name",
        "_timeout",
        "_tls",
        "_username",
    )

    def __init__(
        self,
        *,
        host: str,
        port: int = 587,
        sender: str,
        sender_name: str | None = None,
        username: str | None = None,
        password: Secret | str | None = None,
        starttls: bool = True,
        ssl: bool = False,
        ssl_context: SSLContext | None = None,
        timeout: float = 10,
        domain: str | None = None,
        allow_plaintext_auth: bool = False,
    ) -> None:
        self._host = _check_host(host)
        self._port = _check_port(port)
        for option, flag in (
            ("starttls", starttls),
            ("ssl", ssl),
            ("allow_plaintext_auth", allow_plaintext_auth),
        ):
            if not isinstance(flag, bool):
                raise ConfigError(
                    f"{option} must be True or False, got {type(flag).__name__} {flag!r}"
                )
        self._tls: Literal["implicit", "starttls", "none"] = (
            "implicit" if ssl else "starttls" if starttls else "none"
        )
        self._sender = _config_text("sender", sender, check_address)
        self._sender_name = None
        if sender_name is not None:
            self._sender_name = _config_text("sender_name", sender_name, check_display_name)
        self._username = _check_username(username)
        self._password = _check_password(password)
        if (self._username is None) != (self._password is None):
            given, missing = ("username", "password") if username else ("password", "username")
            raise ConfigError(
                f"a {given} was given without a {missing}; pass both to log in, or neither"
            )
        if self._username is not None and self._tls == "none" and not allow_plaintext_auth:
            raise ConfigError(
                f"refusing to send the credentials of user {self._username!r} to "
                f"{self._host}:{self._port} without TLS; set starttls=True or ssl=True "
                f"(or allow_plaintext_auth=True for a test server on loopback)"
            )
        self._allow_plaintext_auth = allow_plaintext_auth
        if ssl_context is not None and not isinstance(ssl_context, SSLContext):
            raise ConfigError(
                f"ssl_context must be an ssl.SSLContext, got {type(ssl_context).__name__}; "
                f"build one with ssl.create_default_context()"
            )
        self._context: SSLContext | None = None
        if self._tls != "none":
            self._context = ssl_context if ssl_context is not None else create_default_context()
        self._timeout = _check_timeout(timeout)
        if domain is None:
            self._domain = self._sender.rpartition("@")[2]
        else:
            self._domain = _config_text("domain", domain, check_domain)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        password: Secret | str | None = None,
        ssl_context: SSLContext | None = None,
    ) -> SMTPNotifier:
        """Build a notifier from a URL such as ``smtp://user@host:587?sender=desk@example.com``.

        ``smtp://`` connects with STARTTLS on port 587 unless ``starttls=0``;
        ``smtps://`` uses implicit TLS on port 465. The user name and password
        may be in the URL (percent-encoded); a password found there is wrapped
        in a :class:`Secret` at once, and the ``password`` argument overrides
        it. Query options: ``sender`` (required), ``sender_name``,
        ``starttls``, ``timeout``, ``domain`` and ``allow_plaintext_auth``;
        flags take ``1``/``0``, ``true``/``false``, ``yes``/``no`` or
        ``on``/``off``.

        Args:
            url: the server URL.
            password: the password, overriding one in the URL.
            ssl_context: the TLS settings (see the constructor).

        Raises:
            ConfigError: the URL cannot be parsed, has another scheme, a path,
                an unknown or repeated option, or a bad value. Error messages
                show the URL with its password hidden.
        """
        if not isinstance(url, str):
            raise ConfigError(f"the SMTP URL must be a str, got {type(url).__name__}")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            # The exception's text names the fault but never the whole URL.
            raise ConfigError(
                f"could not parse the SMTP URL: {exc}; use smtp://user@host:port?sender=..."
            ) from None
        shown = _redact(url)
        scheme = parts.scheme.lower()
        if scheme not in ("smtp", "smtps"):
            raise ConfigError(
                f"the SMTP URL {shown} has the scheme {parts.scheme!r}; use smtp:// "
                f"(STARTTLS) or smtps:// (implicit TLS)"
            )
        if parts.path not in ("", "/") or parts.fragment:
            raise ConfigError(
                f"the SMTP URL {shown} has a path or fragment; remove everything between "
                f"the port and '?'"
            )
        if not parts.hostname:
            raise ConfigError(f"the SMTP URL {shown} names no host; use smtp://host:port")
        options: dict[str, str] = {}
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key not in _URL_OPTIONS:
                raise ConfigError(
                    f"the SMTP URL {shown} has the unknown option {key!r}; known options: "
                    f"{', '.join(_URL_OPTIONS)}"
                )
            if key in options:
                raise ConfigError(f"the SMTP URL {shown} repeats the option {key!r}; give it once")
            options[key] = value
        if "sender" not in options:
            raise ConfigError(f"the SMTP URL {shown} has no sender; add ?sender=desk@example.com")
        implicit = scheme == "smtps"
        if password is None and parts.password:
            password = Secret(unquote(parts.password))
        timeout: float = 10
        if "timeout" in options:
            try:
                timeout = float(options["timeout"])
            except ValueError:
                raise ConfigError(
                    f"the SMTP URL {shown} has timeout={options['timeout']!r}; give seconds "
                    f"as a number, e.g. timeout=10"
                ) from None
        return cls(
            host=parts.hostname,
            port=port if port is not None else 465 if implicit else 587,
            sender=options["sender"],
            sender_name=options.get("sender_name"),
            username=unquote(parts.username) if parts.username else None,
            password=password,
            starttls=_flag(shown, options, "starttls", default=not implicit),
            ssl=implicit,
            ssl_context=ssl_context,
            timeout=timeout,
            domain=options.get("domain"),
            allow_plaintext_auth=_flag(shown, options, "allow_plaintext_auth", default=False),
        )

    def __repr__(self) -> str:
        user = "" if self._username is None else f", username={self._username!r}"
        return (
            f"SMTPNotifier(host={self._host!r}, port={self._port}, sender={self._sender!r}, "
            f"tls={self._tls!r}{user})"
        )

    def close(self) -> None:
        """Nothing to release: every send uses its own connection."""

    def send(self, notification: Notification) -> Receipt:
        """Deliver ``notification`` as one e-mail and return the server's answer.

        Headers are checked and the message is built before connecting, so a
        refused value never reaches the server.

        Returns:
            A receipt whose ``detail`` is the server's reply to the message
            (``"250 ..."``) and whose ``remote_id`` is the queue id when the
            reply names one (``"queued as ..."``).

        Raises:
            HeaderInjection: the subject, recipient name or address would break
                a header. The exception is also a permanent
                :class:`~supportflow.errors.DeliveryFailed`.
            ValidationError: the address is malformed, ``at`` is naive or an
                id is empty; also a permanent ``DeliveryFailed``.
            DeliveryFailed: the server refused (``5xx`` → permanent, ``4xx`` →
                retryable) or could not be reached (retryable).
        """
        recipient, data = self._build(notification)
        return self._deliver(notification.id, recipient, data)

    # -- building ----------------------------------------------------------------------------

    def _build(self, notification: Notification) -> tuple[str, bytes]:
        """Return the recipient's address and the message as bytes."""
        nid = notification.id
        try:
            subject = check_header_text("subject", notification.subject)
            name = notification.recipient.name
            if name is not None:
                check_display_name("recipient name", name)
            address = check_address("recipient address", notification.recipient.address)
            at = ensure_aware(notification.at, "notification.at")
            message_id = f"<{_id_left('notification id', nid)}@{self._domain}>"
            anchor = None
            if notification.thread is not None:
                anchor = f"<{_id_left('thread', notification.thread)}@{self._domain}>"
            text = _require_text("text", notification.text)
            html = None if notification.html is None else _require_text("html", notification.html)
        except HeaderInjection as exc:
            raise _RefusedHeader(f"notification {nid!r} was not sent: {exc}") from exc
        except ValidationError as exc:
            raise _InvalidNotification(f"notification {nid!r} was not sent: {exc}") from exc

        message = EmailMessage(policy=_POLICY)
        try:
            message["From"] = Address(display_name=self._sender_name or "", addr_spec=self._sender)
            message["To"] = Address(display_name=name or "", addr_spec=address)
            message["Subject"] = subject
            message["Date"] = format_datetime(at)
            message["Message-ID"] = message_id
            if anchor is not None:
                if notification.event_kind not in _THREAD_STARTS:
                    message["In-Reply-To"] = anchor
                message["References"] = anchor
            message["Auto-Submitted"] = "auto-generated"
            message.set_content(text)
            if html is not None:
                message.add_alternative(html, subtype="html")
            return address, message.as_bytes()
        except Exception as exc:
            failure = type(exc).__name__
        # Raised outside the handler, so the error does not even carry the original
        # exception as its context: that exception's text may hold part of the body.
        raise _InvalidNotification(
            f"notification {nid!r} was not sent: the e-mail could not be built "
            f"({failure}); check its subject, text and html"
        )

    # -- delivering --------------------------------------------------------------------------

    def _deliver(self, nid: str, recipient: str, data: bytes) -> Receipt:
        where = f"{self._host}:{self._port}"
        try:
            if self._tls == "implicit":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    self._host, self._port, timeout=self._timeout, context=self._context
                )
            else:
                smtp = smtplib.SMTP(self._host, self._port, timeout=self._timeout)
        except smtplib.SMTPResponseException as exc:
            self._refused(nid, "greeted us with an error", exc.smtp_code, exc.smtp_error)
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(
                f"could not connect to the SMTP server {where} for notification {nid!r}: "
                f"{_network_problem(exc, self._timeout)}; retry later"
            ) from exc
        try:
            return self._converse(smtp, nid, recipient, data)
        except smtplib.SMTPResponseException as exc:
            self._refused(nid, "answered with an error", exc.smtp_code, exc.smtp_error)
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryFailed(
                f"the SMTP server {where} does not support a command needed for notification "
                f"{nid!r} ({exc}); check the server settings",
                permanent=True,
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(
                f"the connection to the SMTP server {where} failed while sending notification "
                f"{nid!r}: {_network_problem(exc, self._timeout)}; retry later"
            ) from exc
        finally:
            _hang_up(smtp)

    def _converse(self, smtp: smtplib.SMTP, nid: str, recipient: str, data: bytes) -> Receipt:
        smtp.ehlo_or_helo_if_needed()
        if self._tls == "starttls":
            if not smtp.has_extn("starttls"):
                raise DeliveryFailed(
                    f"the SMTP server {self._host}:{self._port} does not offer STARTTLS, so "
                    f"notification {nid!r} was not sent in plain text; enable TLS on the "
                    f"server, use ssl=True, or set starttls=False for a trusted relay",
                    permanent=True,
                )
            smtp.starttls(context=self._context)
            smtp.ehlo()
        if self._username is not None:
            self._login(smtp, nid)
        options = [f"SIZE={len(data)}"] if smtp.has_extn("size") else []
        code, reply = smtp.mail(self._sender, options)
        if code != 250:
            self._refused(nid, f"refused the sender {self._sender!r}", code, reply)
        code, reply = smtp.rcpt(recipient)
        if code not in (250, 251):
            self._refused(nid, f"refused the recipient {recipient!r}", code, reply)
        code, reply = smtp.data(data)
        if code != 250:
            self._refused(nid, "refused the message", code, reply)
        detail = f"{code} {self._reply_text(reply)}"
        found = _QUEUE_ID.search(detail)
        remote_id = None if found is None else found.group(1)
        return Receipt(nid, self.name, detail=detail, remote_id=remote_id)

    def _login(self, smtp: smtplib.SMTP, nid: str) -> None:
        assert self._username is not None
        assert self._password is not None
        where = f"{self._host}:{self._port}"
        if not isinstance(smtp.sock, SSLSocket) and not self._allow_plaintext_auth:
            raise DeliveryFailed(
                f"refusing to log in to {where} without TLS for notification {nid!r}; "
                f"enable starttls or ssl",
                permanent=True,
            )
        try:
            smtp.login(self._username, self._password.reveal())
        except smtplib.SMTPAuthenticationError as exc:
            code = exc.smtp_code
            # The server's reply is left out: it could echo what we sent.
            raise DeliveryFailed(
                f"the SMTP server {where} rejected the login of user {self._username!r} "
                f"with {code} for notification {nid!r}; "
                + ("retry later" if 400 <= code < 500 else "check the username and password"),
                permanent=not 400 <= code < 500,
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise DeliveryFailed(
                f"the SMTP server {where} does not offer AUTH, so user {self._username!r} "
                f"cannot log in (notification {nid!r}); remove the username or fix the server",
                permanent=True,
            ) from None
        except smtplib.SMTPResponseException:
            raise
        except smtplib.SMTPServerDisconnected:
            raise
        except smtplib.SMTPException:
            raise DeliveryFailed(
                f"the SMTP server {where} offers no AUTH method smtplib supports (PLAIN, "
                f"LOGIN, CRAM-MD5), so user {self._username!r} cannot log in "
                f"(notification {nid!r}); change the server's AUTH settings",
                permanent=True,
            ) from None

    def _refused(self, nid: str, what: str, code: int, reply: bytes | str) -> NoReturn:
        """Raise the DeliveryFailed that an SMTP error reply calls for."""
        permanent = 500 <= code < 600
        hint = "a permanent refusal: retrying cannot help" if permanent else "retry later"
        raise DeliveryFailed(
            f"the SMTP server {self._host}:{self._port} {what} with {code} "
            f"({self._reply_text(reply)}) for notification {nid!r}; {hint}",
            permanent=permanent,
        )

    def _reply_text(self, reply: bytes | str) -> str:
        """A server reply as one short line, with the password blanked out."""
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
        text = _CONTROL.sub(" ", text).strip()
        if self._password is not None:
            text = text.replace(self._password.reveal(), "********")
        if len(text) > _REPLY_LIMIT:
            text = text[:_REPLY_LIMIT] + "..."
        return text


# -- helpers ---------------------------------------------------------------------------------


def _hang_up(smtp: smtplib.SMTP) -> None:
    try:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            smtp.quit()
    finally:
        smtp.close()


def _network_problem(exc: BaseException, timeout: float) -> str:
    # smtplib reports a timeout while reading a reply as SMTPServerDisconnected.
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, TimeoutError):
            return f"timed out after {timeout:g} seconds"
        cause = cause.__cause__ or cause.__context__
    return f"{type(exc).__name__}: {exc}"


def _id_left(what: str, value: str) -> str:
    """``value`` as the left part of a message id (``<left@domain>``).

    A value that is already dot-atom text without ``%`` is used as it is.
    Anything else has every byte outside RFC 5322 atext (and every ``%`` and
    ``.``) escaped as ``%XX``: the result is valid, the same on every call,
    and never equal to the escape of another value.
    """
    if not isinstance(value, str) or not value:
        raise ValidationError(f"the {what} {value!r} is empty or not a str; pass a non-empty id")
    if _ID_DOT_ATOM.fullmatch(value):
        return value
    return "".join(
        chr(byte) if _ID_ATEXT.fullmatch(chr(byte)) else f"%{byte:02X}"
        for byte in value.encode("utf-8", "surrogatepass")
    )


def _require_text(what: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError(
            f"the notification's {what} must be a str, got {type(value).__name__}"
        )
    return value


def _check_host(host: object) -> str:
    if not isinstance(host, str) or not host:
        raise ConfigError(
            f"host must be a non-empty str, got {host!r}; pass e.g. 'mail.example.com'"
        )
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return host
    try:
        check_domain("host", host)
    except ValidationError as exc:
        raise ConfigError(f"{exc} (or give an IP address)") from None
    return host


def _check_port(port: object) -> int:
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise ConfigError(f"port must be an int from 1 to 65535, got {port!r}; e.g. 587 or 465")
    return port


def _check_timeout(timeout: object) -> float:
    if (
        not isinstance(timeout, int | float)
        or isinstance(timeout, bool)
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise ConfigError(f"timeout must be a positive number of seconds, got {timeout!r}")
    return float(timeout)


def _check_username(username: object) -> str | None:
    if username is None:
        return None
    if not isinstance(username, str) or not username:
        raise ConfigError(f"username must be a non-empty str or None, got {username!r}")
    if not username.isascii() or _CONTROL.search(username):
        raise ConfigError(
            f"username {username!r} holds non-ASCII or control characters, which smtplib "
            f"cannot send in AUTH; check the username"
        )
    return username


def _check_password(password: object) -> Secret | None:
    if password is None:
        return None
    if not isinstance(password, Secret | str | bytes):
        raise ConfigError(
            f"password must be a Secret, a str or None, got {type(password).__name__}"
        )
    try:
        secret = Secret(password)
    except ValidationError:
        raise ConfigError(
            "password is empty; pass the password, or None to send without login"
        ) from None
    value = secret.reveal()
    if isinstance(value, bytes):
        try:
            secret = Secret(value.decode("ascii"))
        except UnicodeDecodeError:
            raise ConfigError(
                "password holds non-ASCII bytes, which smtplib cannot send in AUTH; "
                "change the password"
            ) from None
    elif not value.isascii():
        raise ConfigError(
            "password holds non-ASCII characters, which smtplib cannot send in AUTH; "
            "change the password"
        )
    if "\x00" in secret.reveal():
        raise ConfigError("password holds a NUL character, which AUTH PLAIN cannot carry")
    return secret


def _config_text(option: str, value: str, check: Callable[[str, str], str]) -> str:
    """Run a header check on a constructor option; a plain ValidationError becomes a ConfigError."""
    try:
        return check(option, value)
    except HeaderInjection:
        raise
    except ValidationError as exc:
        raise ConfigError(str(exc)) from None


def _flag(shown: str, options: dict[str, str], key: str, *, default: bool) -> bool:
    if key not in options:
        return default
    value = options[key].lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(
        f"the SMTP URL {shown} has {key}={options[key]!r}; use 1 or 0 (true/false, yes/no, on/off)"
    )


def _redact(url: str) -> str:
    """``url`` with the password (if any) replaced by ``****``."""
    parts = urlsplit(url)
    if parts.password is None:
        return repr(url)
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return repr(parts._replace(netloc=f"{user}:****@{hostport}").geturl())
