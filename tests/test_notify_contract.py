"""Every shipped notifier passes the notifier contract, against a real receiver:
a log handler, an SMTP server, an HTTP server on loopback."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from supportflow.notify._apprise import AppriseNotifier
from supportflow.notify._log import LogNotifier
from supportflow.notify._smtp import SMTPNotifier
from supportflow.notify._webhook import WebhookNotifier
from supportflow.testing.notifiers import DeliveryContract, NotifierContract

PASSWORD = "c0ntract-p4ss-XYZ"
NUMBER = re.compile(r"#(\d+)")
SIGNING_KEY = "whsec_" + "c2lnbmluZy1rZXktZm9yLXRoZS1jb250cmFjdA=="


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class TestLogNotifier(DeliveryContract):
    channel = "log"

    @pytest.fixture
    def notifier(self):
        return LogNotifier("supportflow.contract")

    @pytest.fixture
    def received(self, caplog):
        caplog.set_level(logging.INFO, logger="supportflow.contract")
        return lambda: [
            r.notification_id for r in caplog.records if r.name == "supportflow.contract"
        ]


class _Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        good = auth_data.login == b"desk" and auth_data.password == PASSWORD.encode()
        return AuthResult(success=good, handled=False)


@pytest.fixture
def mailbox():
    box = _Mailbox()
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=_free_port(),
        authenticator=box.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    yield box, controller.port
    controller.stop()


def _smtp(port, password):
    return SMTPNotifier(
        host="127.0.0.1",
        port=port,
        sender="desk@example.com",
        username="desk",
        password=password,
        starttls=False,
        allow_plaintext_auth=True,
        timeout=5,
    )


class TestSMTPNotifier(NotifierContract):
    @pytest.fixture
    def notifier(self, mailbox):
        return _smtp(mailbox[1], PASSWORD)

    @pytest.fixture
    def received(self, mailbox):
        box, _ = mailbox
        return lambda: [re.sub(r"^<(.*)@[^@]*>$", r"\1", m["Message-ID"]) for m in box.messages]

    @pytest.fixture
    def failing_notifier(self, mailbox):
        return _smtp(mailbox[1], PASSWORD + "-wrong")  # the server refuses the login

    @pytest.fixture
    def secret(self):
        return PASSWORD


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = 500 if self.path.startswith("/refuse") else 200
        if status == 200:
            self.server.got.append((dict(self.headers), body))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def http_receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.got = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


class TestWebhookNotifier(NotifierContract):
    channel = "webhook"
    address = ""  # the notifier's own endpoint

    @pytest.fixture
    def notifier(self, http_receiver):
        port = http_receiver.server_address[1]
        return WebhookNotifier(
            f"http://127.0.0.1:{port}/hooks", secret=SIGNING_KEY, allow=["127.0.0.1/32"]
        )

    @pytest.fixture
    def received(self, http_receiver):
        return lambda: [headers["webhook-id"] for headers, _ in http_receiver.got]

    @pytest.fixture
    def failing_notifier(self, http_receiver):
        port = http_receiver.server_address[1]
        return WebhookNotifier(
            f"http://127.0.0.1:{port}/refuse", secret=SIGNING_KEY, allow=["127.0.0.1/32"]
        )

    @pytest.fixture
    def secret(self):
        return SIGNING_KEY


@pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")
class TestAppriseNotifier(NotifierContract):
    channel = "chat"
    address = "#support"

    @pytest.fixture
    def notifier(self, http_receiver):
        port = http_receiver.server_address[1]
        return AppriseNotifier(f"json://127.0.0.1:{port}/chat")

    @pytest.fixture
    def received(self, http_receiver):
        # apprise posts the title, which carries the sample's number: [#n]
        def ids():
            titles = [json.loads(body)["title"] for _, body in http_receiver.got]
            numbers = [int(NUMBER.search(title)[1]) for title in titles]
            return [f"sf-contract-{n:06d}" for n in numbers]

        return ids

    @pytest.fixture
    def failing_notifier(self, http_receiver):
        port = http_receiver.server_address[1]
        return AppriseNotifier(f"json://127.0.0.1:{port}/refuse")
