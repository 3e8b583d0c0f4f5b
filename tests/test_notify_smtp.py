"""The SMTP notifier against a real SMTP server (aiosmtpd) on loopback."""

import email
import email.policy
import socket
import ssl
from datetime import datetime, timedelta, timezone

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from supportflow.errors import ConfigError, DeliveryFailed, HeaderInjection, ValidationError
from supportflow.notify import Notification, Notifier, Receipt, Recipient, Secret
from supportflow.notify._smtp import SMTPNotifier

HOST = "127.0.0.1"
PASSWORD = "Quokka-Zebra-7781-unique"  # distinctive, so any leak is easy to find
AT = datetime(2026, 3, 2, 9, 30, tzinfo=timezone(timedelta(hours=1)))
THREAD = "0195d3a4-7b1c-7000-8000-00000000002a"


def free_port():
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class Recorder:
    """An aiosmtpd handler that keeps everything the server was sent."""

    def __init__(self):
        self.ehlos = []
        self.envelopes = []
        self.logins = []
        self.rcpt_reply = None
        self.data_reply = "250 2.0.0 Ok: queued as ABC123"

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.ehlos.append(hostname)
        session.host_name = hostname  # the 5-argument hook must do what the server would
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_reply is not None:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return self.data_reply

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.logins.append((mechanism, auth_data.login, auth_data.password))
        good = auth_data.login == b"desk" and auth_data.password == PASSWORD.encode()
        return AuthResult(success=good, handled=False)  # the server answers 235 or 535

    def message(self, index=-1):
        content = self.envelopes[index].content
        return email.message_from_bytes(content, policy=email.policy.default)


@pytest.fixture
def start_server():
    """Start an SMTP server on a free loopback port; stopped after the test."""
    controllers = []

    def start(**smtp_options):
        recorder = Recorder()
        if smtp_options.pop("with_auth", False):
            auth = dict(authenticator=recorder.authenticate, auth_require_tls=False)
            smtp_options = {**auth, **smtp_options}
        controller = Controller(recorder, hostname=HOST, port=free_port(), **smtp_options)
        controller.start()
        controllers.append(controller)
        return recorder, controller.port

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def server(start_server):
    return start_server()


def plain_notifier(port, **options):
    settings = dict(
        host=HOST,
        port=port,
        sender="desk@example.com",
        sender_name="Help Desk",
        starttls=False,
        timeout=5,
    )
    settings.update(options)
    return SMTPNotifier(**settings)


def make_notification(**changes):
    recipient = Recipient(
        address=changes.pop("address", "ana@example.com"),
        channel="email",
        role="requester",
        name=changes.pop("name", "Ana Lima"),
    )
    values = dict(
        id="0195d3a4-7b1c-7000-8000-0000000000aa.requester",
        ticket_id=THREAD,
        event_kind="commented",
        event_version=3,
        at=AT,
        recipient=recipient,
        subject="[#42] Printer on fire",
        text="Hello Ana,\n\nwe are on it.\n",
        thread=THREAD,
    )
    values.update(changes)
    return Notification(**values)


def all_text(error):
    """What an exception and every exception in its chain show: str, repr and args."""
    shown = []
    while error is not None:
        shown += [str(error), repr(error), *map(repr, error.args)]
        error = error.__cause__ or error.__context__
    return "\n".join(shown)


def content(part):
    """A text part's content with the wire's CRLF line ends turned back into LF."""
    return part.get_content().replace("\r\n", "\n")


# -- what the server receives ----------------------------------------------------------------


def test_is_a_notifier():
    notifier = plain_notifier(25)
    assert isinstance(notifier, Notifier)
    assert notifier.name == "smtp"
    assert notifier.channels == frozenset({"email"})
    notifier.close()


def test_headers_and_envelope_reach_the_server(server):
    recorder, port = server
    notification = make_notification()
    receipt = plain_notifier(port).send(notification)

    assert receipt == Receipt(
        notification.id, "smtp", detail="250 2.0.0 Ok: queued as ABC123", remote_id="ABC123"
    )
    (envelope,) = recorder.envelopes
    assert envelope.mail_from == "desk@example.com"
    assert envelope.rcpt_tos == ["ana@example.com"]
    message = recorder.message()
    assert message["From"] == "Help Desk <desk@example.com>"
    assert message["To"] == "Ana Lima <ana@example.com>"
    assert message["Subject"] == "[#42] Printer on fire"
    assert message["Date"].datetime == AT
    assert message["Date"] == "Mon, 02 Mar 2026 09:30:00 +0100"
    assert message["Message-ID"] == f"<{notification.id}@example.com>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "text/plain"
    assert content(message) == notification.text


def test_messages_of_one_ticket_form_one_thread(server):
    recorder, port = server
    notifier = plain_notifier(port, domain="desk.example.org")
    notifier.send(make_notification(id="n1", event_kind="opened"))
    notifier.send(make_notification(id="n2", event_kind="commented"))
    notifier.send(make_notification(id="n3", event_kind="resolved"))

    first, second, third = (recorder.message(i) for i in range(3))
    anchor = f"<{THREAD}@desk.example.org>"
    assert first["Message-ID"] == "<n1@desk.example.org>"
    assert first["References"] == anchor
    assert first["In-Reply-To"] is None  # the first message replies to nothing
    for reply, nid in ((second, "n2"), (third, "n3")):
        assert reply["Message-ID"] == f"<{nid}@desk.example.org>"
        assert reply["In-Reply-To"] == anchor
        assert reply["References"] == anchor


def test_no_thread_no_threading_headers(server):
    recorder, port = server
    plain_notifier(port).send(make_notification(thread=None))
    message = recorder.message()
    assert message["In-Reply-To"] is None
    assert message["References"] is None


def test_html_is_sent_as_an_alternative(server):
    recorder, port = server
    html = "<p>Hello <b>Ana</b>, we are on it.</p>\n"
    plain_notifier(port).send(make_notification(html=html))

    message = recorder.message()
    assert message.get_content_type() == "multipart/alternative"
    text_part, html_part = message.iter_parts()
    assert text_part.get_content_type() == "text/plain"
    assert content(text_part) == "Hello Ana,\n\nwe are on it.\n"
    assert html_part.get_content_type() == "text/html"
    assert content(html_part) == html


def test_unicode_survives_and_the_wire_is_7bit(server):
    recorder, port = server
    subject = "Ticket #42 – Drucker defekt, Grüße 🎫 チケット"
    text = "Grüße aus Köln – ✓\n.\nA line with only a dot above.\n" + "ü" * 1200 + "\n"
    plain_notifier(port, sender_name="Support – Köln").send(
        make_notification(subject=subject, text=text, name="Müller, Hans")
    )

    (envelope,) = recorder.envelopes
    assert envelope.content.isascii()
    message = recorder.message()
    assert message["Subject"] == subject
    assert message["From"].addresses[0].display_name == "Support – Köln"
    (to,) = message["To"].addresses
    assert (to.display_name, to.addr_spec) == ("Müller, Hans", "ana@example.com")
    assert content(message) == text


def test_idn_recipient_is_sent_in_ascii(server):
    recorder, port = server
    plain_notifier(port).send(make_notification(address="info@bücher.example"))
    assert recorder.envelopes[0].rcpt_tos == ["info@xn--bcher-kva.example"]
    assert recorder.message()["To"].addresses[0].addr_spec == "info@xn--bcher-kva.example"


def test_ids_that_are_not_message_id_text_are_escaped(server):
    recorder, port = server
    notifier = plain_notifier(port)
    notifier.send(make_notification(id="outbox:7/ana@example.com", thread="T 1"))
    message = recorder.message()
    assert message["Message-ID"] == "<outbox%3A7/ana%40example%2Ecom@example.com>"
    assert message["In-Reply-To"] == "<T%201@example.com>"


# -- authentication --------------------------------------------------------------------------


def test_login_with_the_right_credentials(start_server):
    recorder, port = start_server(with_auth=True)
    notifier = plain_notifier(
        port, username="desk", password=Secret(PASSWORD), allow_plaintext_auth=True
    )
    notifier.send(make_notification())
    assert [(login, password) for _, login, password in recorder.logins] == [
        (b"desk", PASSWORD.encode())
    ]
    assert len(recorder.envelopes) == 1


def test_wrong_password_is_permanent_and_not_shown(start_server):
    recorder, port = start_server(with_auth=True)
    wrong = PASSWORD + "-wrong"
    notifier = plain_notifier(port, username="desk", password=wrong, allow_plaintext_auth=True)
    with pytest.raises(DeliveryFailed) as caught:
        notifier.send(make_notification())
    assert caught.value.permanent
    assert "535" in str(caught.value)
    assert f"{HOST}:{port}" in str(caught.value)
    assert PASSWORD not in all_text(caught.value)
    assert recorder.envelopes == []


def test_credentials_without_tls_are_refused_before_connecting(server):
    recorder, port = server
    with pytest.raises(ConfigError, match="without TLS") as caught:
        plain_notifier(port, username="desk", password=PASSWORD)
    assert PASSWORD not in all_text(caught.value)
    assert recorder.ehlos == []


def test_password_never_shows(start_server):
    recorder, port = start_server(with_auth=True)
    notifier = plain_notifier(port, username="desk", password=PASSWORD, allow_plaintext_auth=True)
    for shown in (repr(notifier), str(notifier), f"{notifier!r:>10}"):
        assert PASSWORD not in shown
    from_url = SMTPNotifier.from_url(
        f"smtp://desk:{PASSWORD}@{HOST}:{port}?sender=desk@example.com&starttls=0"
        "&allow_plaintext_auth=1"
    )
    assert PASSWORD not in repr(from_url)
    assert from_url.send(make_notification()).detail.startswith("250")
    assert recorder.logins[-1][1:] == (b"desk", PASSWORD.encode())

    bad_urls = [
        f"smtp://desk:{PASSWORD}@{HOST}?sender=desk@example.com&colour=blue",
        f"smtp://desk:{PASSWORD}@{HOST}?sender=desk@example.com&starttls=maybe",
        f"smtp://desk:{PASSWORD}@{HOST}/path?sender=desk@example.com",
        f"smtp://desk:{PASSWORD}@{HOST}",
        f"http://desk:{PASSWORD}@{HOST}?sender=desk@example.com",
        f"smtp://desk:{PASSWORD}@{HOST}:99999?sender=desk@example.com",
        f"smtp://desk:{PASSWORD}@{HOST}?sender=desk@example.com&starttls=0",
    ]
    for url in bad_urls:
        with pytest.raises(ConfigError) as caught:
            SMTPNotifier.from_url(url)
        assert PASSWORD not in all_text(caught.value), url


# -- failures --------------------------------------------------------------------------------


def test_550_is_permanent(server):
    recorder, port = server
    recorder.rcpt_reply = "550 5.1.1 No such user here"
    with pytest.raises(DeliveryFailed) as caught:
        plain_notifier(port).send(make_notification())
    assert caught.value.permanent
    message = str(caught.value)
    assert f"{HOST}:{port}" in message
    assert "550" in message
    assert "No such user" in message
    assert "we are on it" not in message  # never the body
    assert recorder.envelopes == []


def test_451_is_retryable(server):
    recorder, port = server
    recorder.rcpt_reply = "451 4.3.0 Try again later"
    with pytest.raises(DeliveryFailed) as caught:
        plain_notifier(port).send(make_notification())
    assert not caught.value.permanent
    assert "451" in str(caught.value)


def test_a_refused_message_is_mapped_by_its_code(server):
    recorder, port = server
    recorder.data_reply = "554 5.7.1 Message rejected as spam"
    with pytest.raises(DeliveryFailed) as caught:
        plain_notifier(port).send(make_notification())
    assert caught.value.permanent
    recorder.data_reply = "452 4.3.1 Insufficient system storage"
    with pytest.raises(DeliveryFailed) as caught:
        plain_notifier(port).send(make_notification())
    assert not caught.value.permanent


def test_closed_port_is_retryable():
    port = free_port()
    with pytest.raises(DeliveryFailed, match=f"{HOST}:{port}") as caught:
        plain_notifier(port).send(make_notification())
    assert not caught.value.permanent
    assert "ConnectionRefusedError" in str(caught.value)


def test_silent_server_times_out_retryably():
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(DeliveryFailed, match=r"timed out after 0\.2 seconds") as caught:
            plain_notifier(port, timeout=0.2).send(make_notification())
    assert not caught.value.permanent


def test_missing_starttls_is_refused_not_downgraded(server):
    recorder, port = server
    notifier = plain_notifier(port, starttls=True)
    with pytest.raises(DeliveryFailed, match="does not offer STARTTLS") as caught:
        notifier.send(make_notification())
    assert caught.value.permanent
    assert recorder.envelopes == []


# -- header injection ------------------------------------------------------------------------

INJECTIONS = {
    "subject CRLF": dict(subject="Hi\r\nBcc: victim@evil.example"),
    "subject LF": dict(subject="Hi\nBcc: victim@evil.example"),
    "subject NUL": dict(subject="Hi\x00"),
    "subject U+2028": dict(subject="Hi\u2028Bcc: victim@evil.example"),
    "subject encoded word": dict(subject="=?utf-8?q?Hi=0D=0ABcc:victim@evil.example?="),
    "subject base64 word": dict(subject="=?utf-8?b?SGkNCkJjYzogdmljdGltQGV2aWwuZXhhbXBsZQ==?="),
    "name with address": dict(name='Ana" <victim@evil.example>'),
    "name CRLF": dict(name="Ana\r\nBcc: victim@evil.example"),
    "second address": dict(address="ana@example.com, victim@evil.example"),
    "address CRLF": dict(address="ana@example.com\r\nBcc: victim@evil.example"),
    "address with display name": dict(address='"Ana" <ana@example.com>'),
}


@pytest.mark.parametrize("changes", INJECTIONS.values(), ids=INJECTIONS.keys())
def test_injection_is_refused_before_connecting(server, changes):
    recorder, port = server
    with pytest.raises(HeaderInjection) as caught:
        plain_notifier(port).send(make_notification(**changes))
    assert isinstance(caught.value, DeliveryFailed)
    assert caught.value.permanent
    assert "notification '0195d3a4" in str(caught.value)
    assert recorder.ehlos == []
    assert recorder.envelopes == []


@pytest.mark.parametrize(
    "changes",
    [dict(address="ana.example.com"), dict(at=datetime(2026, 3, 2, 9, 30)), dict(id="")],
    ids=["no @", "naive at", "empty id"],
)
def test_invalid_notification_is_permanent(server, changes):
    recorder, port = server
    with pytest.raises(ValidationError) as caught:
        plain_notifier(port).send(make_notification(**changes))
    assert isinstance(caught.value, DeliveryFailed)
    assert caught.value.permanent
    assert recorder.ehlos == []


def test_unencodable_body_is_permanent_and_not_quoted(server):
    recorder, port = server
    with pytest.raises(DeliveryFailed, match="could not be built") as caught:
        plain_notifier(port).send(make_notification(text="secret body \ud800"))
    assert caught.value.permanent
    assert "secret body" not in all_text(caught.value)
    assert recorder.ehlos == []


# -- configuration ---------------------------------------------------------------------------

BAD_SETTINGS = {
    "sender with name": (dict(sender='"Desk" <desk@example.com>'), HeaderInjection),
    "sender CRLF": (dict(sender="desk@example.com\r\nBcc: x@evil.example"), HeaderInjection),
    "sender without @": (dict(sender="desk"), ConfigError),
    "sender_name CRLF": (dict(sender_name="Desk\r\nBcc: x@evil.example"), HeaderInjection),
    "port zero": (dict(port=0), ConfigError),
    "port as str": (dict(port="587"), ConfigError),
    "host with space": (dict(host="mail example.com"), ConfigError),
    "host CRLF": (dict(host="mail.example.com\r\n"), ConfigError),
    "empty host": (dict(host=""), ConfigError),
    "negative timeout": (dict(timeout=-1), ConfigError),
    "infinite timeout": (dict(timeout=float("inf")), ConfigError),
    "password without user": (dict(password=PASSWORD), ConfigError),
    "user without password": (dict(username="desk"), ConfigError),
    "empty password": (dict(username="desk", password="", allow_plaintext_auth=True), ConfigError),
    "bad domain": (dict(domain="desk example"), ConfigError),
    "starttls as str": (dict(starttls="yes"), ConfigError),
    "ssl_context wrong type": (dict(ssl=True, ssl_context="tls"), ConfigError),
}


@pytest.mark.parametrize(("changes", "error"), BAD_SETTINGS.values(), ids=BAD_SETTINGS.keys())
def test_bad_settings_are_refused_in_the_constructor(changes, error):
    options = dict(changes)
    port = options.pop("port", 25)
    with pytest.raises(error) as caught:
        plain_notifier(port, **options)
    assert PASSWORD not in all_text(caught.value)


def test_from_url_reads_every_option():
    notifier = SMTPNotifier.from_url(
        "smtp://desk%40example.com@mail.example.com:2525?sender=desk@example.com"
        "&sender_name=Help%20Desk&starttls=0&timeout=2.5&domain=tickets.example.com"
        "&allow_plaintext_auth=yes",
        password=PASSWORD,
    )
    assert repr(notifier) == (
        "SMTPNotifier(host='mail.example.com', port=2525, sender='desk@example.com', "
        "tls='none', username='desk@example.com')"
    )
    assert notifier._sender_name == "Help Desk"
    assert notifier._timeout == 2.5
    assert notifier._domain == "tickets.example.com"
    assert notifier._password == Secret(PASSWORD)


def test_from_url_defaults():
    starttls = SMTPNotifier.from_url("smtp://mail.example.com?sender=desk@example.com")
    assert "port=587" in repr(starttls)
    assert "tls='starttls'" in repr(starttls)
    implicit = SMTPNotifier.from_url("SMTPS://mail.example.com?sender=desk@example.com")
    assert "port=465" in repr(implicit)
    assert "tls='implicit'" in repr(implicit)
    ipv6 = SMTPNotifier.from_url("smtp://[::1]:25?sender=desk@example.com&starttls=false")
    assert "host='::1', port=25" in repr(ipv6)


def test_from_url_password_is_percent_decoded_and_overridable():
    url = "smtps://desk:p%40ss%3Aword@mail.example.com?sender=desk@example.com"
    assert SMTPNotifier.from_url(url)._password == Secret("p@ss:word")
    assert SMTPNotifier.from_url(url, password="other")._password == Secret("other")


def test_from_url_hides_the_password_in_errors():
    with pytest.raises(ConfigError, match=r"smtp://desk:\*\*\*\*@mail.example.com") as caught:
        SMTPNotifier.from_url(f"smtp://desk:{PASSWORD}@mail.example.com?sendr=a@example.com")
    assert "known options" in str(caught.value)


# -- TLS -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(issue_certificate):
    """A self-signed certificate for 127.0.0.1: the server's and the client's contexts."""
    cert, key = issue_certificate("127.0.0.1", "IP:127.0.0.1")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return server, client


def test_starttls_then_login(start_server, certificate):
    server_context, client_context = certificate
    recorder, port = start_server(
        with_auth=True, tls_context=server_context, require_starttls=True, auth_require_tls=True
    )
    notifier = plain_notifier(
        port, starttls=True, ssl_context=client_context, username="desk", password=PASSWORD
    )
    notifier.send(make_notification())
    assert len(recorder.ehlos) == 2  # before and after STARTTLS
    assert recorder.logins[0][1:] == (b"desk", PASSWORD.encode())
    assert recorder.message()["Subject"] == "[#42] Printer on fire"


def test_implicit_tls(start_server, certificate):
    server_context, client_context = certificate
    recorder, port = start_server(ssl_context=server_context)
    notifier = plain_notifier(port, ssl=True, ssl_context=client_context)
    assert notifier.send(make_notification()).remote_id == "ABC123"
    assert len(recorder.envelopes) == 1


def test_untrusted_certificate_is_refused(start_server, certificate):
    server_context, _ = certificate
    recorder, port = start_server(tls_context=server_context)
    notifier = plain_notifier(port, starttls=True)  # the default context: system CAs
    with pytest.raises(DeliveryFailed, match="CERTIFICATE_VERIFY_FAILED") as caught:
        notifier.send(make_notification())
    assert not caught.value.permanent
    assert recorder.envelopes == []
