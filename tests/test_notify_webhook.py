"""The webhook notifier against a real HTTP server on loopback."""

import base64
import email.utils
import hashlib
import hmac
import json
import socket
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote

import pytest
from standardwebhooks.webhooks import Webhook

from supportflow._time import ManualClock
from supportflow.errors import ConfigError, DeliveryFailed, UnsafeDestination
from supportflow.notify import Notification, Notifier, Receipt, Recipient, Secret
from supportflow.notify._webhook import WebhookNotifier
from supportflow.notify.signing import verify

KEY = b"0123456789abcdef-webhook-key-32b"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LOOPBACK = ["127.0.0.1/32"]
BIG_BODY = 64 * 1024 * 1024


class Recorder:
    """What the test server saw, and the switches the tests flip."""

    def __init__(self):
        self.requests = []
        self.release = threading.Event()
        self.big_done = threading.Event()
        self.big = {}
        self.sni = []

    @property
    def paths(self):
        return [request["path"] for request in self.requests]


def make_handler(recorder):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):
            pass

        def do_POST(self):
            self.close_connection = True
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            recorder.requests.append(
                {
                    "path": self.path,
                    "headers": {name.lower(): value for name, value in self.headers.items()},
                    "body": body,
                }
            )
            path, _, query = self.path.partition("?")
            params = {name: values[0] for name, values in parse_qs(query).items()}
            try:
                if path.startswith("/status/"):
                    self.answer(int(path.removeprefix("/status/")), params)
                elif path == "/slow":
                    recorder.release.wait(5)
                    self.answer(200, {})
                elif path == "/drip":
                    self.drip()
                elif path == "/big":
                    self.big()
                else:
                    self.answer(200, {}, b"thanks")
            except OSError:
                pass  # the client hung up, as some tests want it to

        def answer(self, status, params, body=b""):
            self.send_response(status)
            if "retry-after" in params:
                self.send_header("Retry-After", params["retry-after"])
            if "location" in params:
                self.send_header("Location", params["location"])
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def drip(self):
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.flush()
            for _ in range(100):
                if recorder.release.wait(0.05):
                    return
                self.wfile.write(b".")
                self.wfile.flush()

        def big(self):
            written = 0
            try:
                self.send_response(200)
                self.send_header("Content-Length", str(BIG_BODY))
                self.end_headers()
                chunk = b"x" * 65536
                while written < BIG_BODY:
                    self.wfile.write(chunk)
                    written += len(chunk)
                recorder.big.update(written=written, finished=True)
            except OSError:
                recorder.big.update(written=written, finished=False)
            finally:
                recorder.big_done.set()

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() waits for every handler thread


class Running:
    def __init__(self, httpd, recorder, scheme="http"):
        self.httpd = httpd
        self.recorder = recorder
        self.port = httpd.server_address[1]
        self.scheme = scheme

    @property
    def requests(self):
        return self.recorder.requests

    def url(self, path="/hooks/in", host="127.0.0.1"):
        return f"{self.scheme}://{host}:{self.port}{path}"


def serve(httpd, recorder, scheme="http"):
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    return Running(httpd, recorder, scheme), thread


def stop(httpd, recorder, thread):
    recorder.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def server():
    recorder = Recorder()
    httpd = _Server(("127.0.0.1", 0), make_handler(recorder))
    running, thread = serve(httpd, recorder)
    try:
        yield running
    finally:
        stop(httpd, recorder, thread)


@pytest.fixture
def clock():
    return ManualClock(AT)


def notification(**overrides):
    values = dict(
        id="ntf_01HQ",
        ticket_id="T-1",
        event_kind="created",
        event_version=3,
        at=AT - timedelta(seconds=30),
        recipient=Recipient(address="ops-hook", channel="webhook", role="watcher"),
        subject="Printer on fire",
        text="The printer on floor 2 is on fire.",
        data={"priority": "high", "tags": ["hardware"]},
    )
    values.update(overrides)
    return Notification(**values)


def notifier(url, clock, **overrides):
    options = dict(secret=SECRET, allow=LOOPBACK, clock=clock, read_timeout=2)
    options.update(overrides)
    return WebhookNotifier(url, **options)


# -- a delivery and what it looks like on the wire --------------------------------------


def test_it_is_a_notifier():
    hook = WebhookNotifier("https://hooks.example.com/in", secret=SECRET)
    assert isinstance(hook, Notifier)
    assert hook.name == "webhook"
    assert hook.channels == frozenset({"webhook"})
    hook.close()


def test_delivers_signed_compact_json(server, clock):
    hook = notifier(server.url("/hooks/in?source=sf"), clock)
    receipt = hook.send(notification())

    assert receipt == Receipt("ntf_01HQ", "webhook", detail="HTTP 200")
    [request] = server.requests
    assert request["path"] == "/hooks/in?source=sf"
    headers = request["headers"]
    assert headers["content-type"] == "application/json"
    assert headers["host"] == f"127.0.0.1:{server.port}"
    assert headers["user-agent"].startswith("supportflow/")
    assert headers["webhook-id"] == "ntf_01HQ"
    assert headers["webhook-timestamp"] == str(int(AT.timestamp()))
    assert "x-hub-signature-256" not in headers

    expected = {
        "type": "ticket.created",
        "timestamp": "2026-03-02T08:59:30+00:00",
        "id": "ntf_01HQ",
        "data": {
            "priority": "high",
            "tags": ["hardware"],
            "ticket_id": "T-1",
            "event_version": 3,
            "subject": "Printer on fire",
            "text": "The printer on floor 2 is on fire.",
        },
    }
    assert json.loads(request["body"]) == expected
    assert request["body"] == json.dumps(expected, sort_keys=True, separators=(",", ":")).encode()

    # The independent implementation computes the same signature ...
    theirs = Webhook(SECRET).sign("ntf_01HQ", AT, request["body"].decode())
    assert headers["webhook-signature"] == theirs
    # ... and ours verifies it at the clock's time.
    verify(SECRET, headers, request["body"], now=clock.now())


def test_standardwebhooks_verifies_the_request_it_received(server):
    # Webhook.verify() checks the timestamp against the wall clock, so start there.
    clock = ManualClock(datetime.now(UTC))
    notifier(server.url(), clock).send(notification(data={"note": "grüße"}))
    [request] = server.requests
    payload = Webhook(SECRET).verify(request["body"], request["headers"])
    assert payload["data"]["note"] == "grüße"
    assert payload["type"] == "ticket.created"


def test_github_style_adds_the_hub_signature(server, clock):
    notifier(server.url(), clock, github_style=True).send(notification())
    [request] = server.requests
    expected = hmac.new(SECRET.encode(), request["body"], hashlib.sha256).hexdigest()
    assert request["headers"]["x-hub-signature-256"] == f"sha256={expected}"
    assert "webhook-signature" in request["headers"]


def test_without_a_secret_requests_are_unsigned(server, clock):
    notifier(server.url(), clock, secret=None).send(notification())
    [request] = server.requests
    assert "webhook-signature" not in request["headers"]
    assert request["headers"]["webhook-id"] == "ntf_01HQ"


def test_a_recipient_url_overrides_the_default(server, clock):
    hook = notifier(server.url("/status/500"), clock)
    recipient = Recipient(address=server.url("/own/endpoint"), channel="webhook", role="watcher")
    hook.send(notification(recipient=recipient))
    assert server.recorder.paths == ["/own/endpoint"]


def test_an_unsafe_recipient_url_is_refused_permanently(server, clock):
    hook = notifier(server.url(), clock)
    recipient = Recipient(address="file:///etc/passwd", channel="webhook", role="watcher")
    with pytest.raises(DeliveryFailed, match="scheme 'file'") as caught:
        hook.send(notification(recipient=recipient))
    assert caught.value.permanent
    assert isinstance(caught.value.__cause__, UnsafeDestination)
    assert server.requests == []


# -- what the receiver's answer means ---------------------------------------------------


def http_date(when):
    return email.utils.format_datetime(when, usegmt=True)


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        ("120", timedelta(seconds=120)),
        (
            email.utils.format_datetime(AT + timedelta(seconds=90), usegmt=True),
            timedelta(seconds=90),
        ),
        (email.utils.format_datetime(AT - timedelta(hours=1), usegmt=True), timedelta(0)),
        ("tomorrow-ish", None),
    ],
    ids=["seconds", "http-date", "http-date-in-the-past", "garbage"],
)
def test_429_is_retried_after_what_the_receiver_asks(server, clock, retry_after, expected):
    # The query string tells the server what to answer in Retry-After.
    hook = notifier(server.url(f"/status/429?retry-after={quote(retry_after)}"), clock)
    with pytest.raises(DeliveryFailed, match="HTTP 429") as caught:
        hook.send(notification())
    assert caught.value.retry_after == expected
    assert caught.value.permanent is False
    assert caught.value.disable_endpoint is False


def test_503_with_retry_after_is_retryable_with_the_delay(server, clock):
    with pytest.raises(DeliveryFailed, match="HTTP 503") as caught:
        notifier(server.url("/status/503?retry-after=30"), clock).send(notification())
    assert caught.value.retry_after == timedelta(seconds=30)
    assert not caught.value.permanent


@pytest.mark.parametrize("status", [408, 425, 500, 502, 504])
def test_transient_statuses_are_retryable(server, clock, status):
    with pytest.raises(DeliveryFailed, match=f"HTTP {status}") as caught:
        notifier(server.url(f"/status/{status}"), clock).send(notification())
    assert caught.value.permanent is False
    assert caught.value.retry_after is None
    assert caught.value.disable_endpoint is False


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_other_client_errors_are_permanent(server, clock, status):
    with pytest.raises(DeliveryFailed, match=f"HTTP {status}") as caught:
        notifier(server.url(f"/status/{status}"), clock).send(notification())
    assert caught.value.permanent is True
    assert caught.value.disable_endpoint is False


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_every_2xx_is_a_delivery(server, clock, status):
    receipt = notifier(server.url(f"/status/{status}"), clock).send(notification())
    assert receipt.detail == f"HTTP {status}"


def test_410_disables_the_endpoint(server, clock):
    hook = notifier(server.url("/status/410"), clock)
    with pytest.raises(DeliveryFailed, match="410") as first:
        hook.send(notification())
    assert first.value.disable_endpoint is True
    assert first.value.permanent is True
    assert hook.disabled_endpoints == {server.url("/status/410")}

    with pytest.raises(DeliveryFailed, match="disabled") as second:
        hook.send(notification(id="ntf_02"))
    assert second.value.permanent is True
    assert len(server.requests) == 1  # the second send never connected

    # Other endpoints of the same notifier are unaffected.
    other = Recipient(address=server.url("/elsewhere"), channel="webhook", role="watcher")
    assert hook.send(notification(id="ntf_03", recipient=other)).detail == "HTTP 200"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_not_followed(server, clock, status):
    target = server.url("/redirect-target")
    hook = notifier(server.url(f"/status/{status}?location={target}"), clock)
    with pytest.raises(DeliveryFailed, match="redirects are not followed") as caught:
        hook.send(notification())
    assert caught.value.permanent is True
    assert server.recorder.paths == [f"/status/{status}?location={target}"]


# -- timeouts, caps and broken connections ----------------------------------------------


def test_a_server_slower_than_the_read_timeout_is_a_retryable_timeout(server, clock):
    hook = notifier(server.url("/slow"), clock, read_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(DeliveryFailed, match=r"timed out waiting for the answer") as caught:
        hook.send(notification())
    assert time.monotonic() - started < 2
    assert caught.value.permanent is False
    assert f"127.0.0.1:{server.port}" in str(caught.value)
    assert isinstance(caught.value.__cause__, TimeoutError)


def test_a_dripping_answer_cannot_outlast_the_read_timeout(server, clock):
    # Each byte comes well within the timeout; the whole answer does not.
    hook = notifier(server.url("/drip"), clock, read_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(DeliveryFailed, match="timed out") as caught:
        hook.send(notification())
    assert time.monotonic() - started < 2
    assert caught.value.permanent is False


def test_only_max_response_bytes_of_an_answer_are_read(server, clock):
    hook = notifier(server.url("/big"), clock, max_response_bytes=64 * 1024)
    started = time.monotonic()
    assert hook.send(notification()).detail == "HTTP 200"
    assert time.monotonic() - started < 5
    assert server.recorder.big_done.wait(10)
    # The client hung up long before the server could write its 64 MiB.
    assert server.recorder.big["finished"] is False
    assert server.recorder.big["written"] < BIG_BODY


def test_a_refused_connection_is_retryable(clock):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    hook = notifier(f"http://127.0.0.1:{port}/", clock, connect_timeout=2)
    with pytest.raises(DeliveryFailed, match=f"127.0.0.1:{port}") as caught:
        hook.send(notification())
    assert caught.value.permanent is False
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


# -- SSRF: refused before connecting, and pinned to the checked address -----------------


def test_without_the_allow_list_loopback_is_refused_before_connecting(server, clock):
    hook = notifier(server.url(), clock, allow=())
    with pytest.raises(DeliveryFailed, match="loopback") as caught:
        hook.send(notification())
    assert caught.value.permanent is True
    assert isinstance(caught.value.__cause__, UnsafeDestination)
    assert server.requests == []


def sequence_resolver(*answers):
    """A DNS that gives a different answer each time it is asked (DNS rebinding)."""
    calls = []

    def resolve(host, port):
        calls.append((host, port))
        return [answers[min(len(calls), len(answers)) - 1]]

    resolve.calls = calls
    return resolve


def test_dns_rebinding_a_refused_first_answer_means_no_request(server, clock):
    resolver = sequence_resolver("10.0.0.5", "127.0.0.1")
    hook = notifier(server.url(host="hooks.example.test"), clock, resolver=resolver)
    with pytest.raises(DeliveryFailed, match=r"10\.0\.0\.5.*private") as caught:
        hook.send(notification())
    assert caught.value.permanent is True
    assert resolver.calls == [("hooks.example.test", server.port)]  # asked once, never again
    assert server.requests == []


def test_dns_rebinding_the_checked_address_is_the_one_used(server, clock, monkeypatch):
    resolver = sequence_resolver("127.0.0.1", "10.255.255.1")

    def no_resolving(*args, **kwargs):
        raise AssertionError("the HTTP client must not resolve the host name itself")

    monkeypatch.setattr(socket, "getaddrinfo", no_resolving)
    hook = notifier(server.url("/in", host="hooks.example.test"), clock, resolver=resolver)

    assert hook.send(notification()).detail == "HTTP 200"
    [request] = server.requests
    assert request["headers"]["host"] == f"hooks.example.test:{server.port}"

    # The next send checks afresh, gets the rebound answer and refuses it.
    with pytest.raises(DeliveryFailed, match=r"10\.255\.255\.1") as caught:
        hook.send(notification(id="ntf_02"))
    assert caught.value.permanent is True
    assert len(resolver.calls) == 2
    assert len(server.requests) == 1


def test_a_resolution_failure_is_retryable(clock):
    def failing(host, port):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    hook = notifier("https://hooks.example.test/", clock, resolver=failing)
    with pytest.raises(DeliveryFailed, match=r"could not resolve host 'hooks\.example\.test'") as c:
        hook.send(notification())
    assert c.value.permanent is False


# -- secrets stay secret -----------------------------------------------------------------


def test_secrets_never_appear_in_repr_or_errors(server, clock):
    secret_text = "whsec_" + base64.b64encode(b"never-print-this-key").decode()
    raw = "never-print-this-key"
    hooks = [
        notifier(server.url(path), clock, secret=secret, github_style=True, read_timeout=0.3)
        for path in ("/status/500", "/status/410", "/status/400", "/slow")
        for secret in (secret_text, Secret(secret_text))
    ]
    hooks.append(notifier(server.url(), clock, secret=secret_text, allow=()))
    messages = []
    for hook in hooks:
        messages.append(repr(hook))
        with pytest.raises(DeliveryFailed) as caught:
            hook.send(notification())
        error = caught.value
        while error is not None:
            messages.extend([str(error), repr(error)])
            error = error.__cause__
    assert "127.0.0.1" in repr(hooks[0])
    for message in messages:
        assert secret_text not in message
        assert secret_text[6:] not in message
        assert raw not in message
        assert "Printer on fire" not in message  # nor the body


def test_bad_secrets_are_config_errors_that_do_not_echo_them():
    with pytest.raises(ConfigError, match="base64") as caught:
        WebhookNotifier("https://hooks.example.com/", secret="whsec_s3cr3t!!!")
    assert "s3cr3t" not in str(caught.value)


# -- payload and configuration mistakes -------------------------------------------------


def test_unserialisable_data_is_a_permanent_failure(server, clock):
    hook = notifier(server.url(), clock)
    with pytest.raises(DeliveryFailed, match="JSON") as caught:
        hook.send(notification(data={"when": datetime(2026, 1, 1, tzinfo=UTC)}))
    assert caught.value.permanent is True
    assert server.requests == []


def test_a_notification_id_that_would_break_headers_is_refused(server, clock):
    hook = notifier(server.url(), clock)
    with pytest.raises(DeliveryFailed, match="printable ASCII") as caught:
        hook.send(notification(id="ntf\r\nX-Injected: 1"))
    assert caught.value.permanent is True
    assert server.requests == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(url="ftp://hooks.example.com/"), "scheme"),
        (dict(url="https://user:pw@hooks.example.com/"), "credentials"),
        (dict(github_style=True, secret=None), "needs a secret"),
        (dict(connect_timeout=0), "connect_timeout"),
        (dict(read_timeout=float("inf")), "read_timeout"),
        (dict(max_response_bytes=-1), "max_response_bytes"),
        (dict(allow=["10.0.0.1/8"]), "host bits"),
        (dict(user_agent="x\r\ny"), "user_agent"),
        (dict(secret=""), "secret"),
    ],
)
def test_bad_configuration_is_refused_at_construction(kwargs, match):
    options = dict(url="https://hooks.example.com/", secret=SECRET) | kwargs
    with pytest.raises(ConfigError, match=match):
        WebhookNotifier(**options)


def test_an_ssl_context_that_does_not_verify_is_refused():
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with pytest.raises(ConfigError, match="verify"):
        WebhookNotifier("https://hooks.example.com/", ssl_context=context)


# -- HTTPS: pinned address, but SNI and certificate checks use the host name ------------


@pytest.fixture
def certificate(issue_certificate):
    return issue_certificate("hooks.example.test", "DNS:hooks.example.test", ca=True)


@pytest.fixture
def tls_server(certificate):
    cert, key = certificate
    recorder = Recorder()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: recorder.sni.append(name)
    httpd = _Server(("127.0.0.1", 0), make_handler(recorder))
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    running, thread = serve(httpd, recorder, scheme="https")
    try:
        yield running
    finally:
        stop(httpd, recorder, thread)


def test_https_verifies_the_host_name_on_the_pinned_address(tls_server, certificate, clock):
    resolver = sequence_resolver("127.0.0.1")
    context = ssl.create_default_context(cafile=str(certificate[0]))
    hook = notifier(
        tls_server.url(host="hooks.example.test"), clock, resolver=resolver, ssl_context=context
    )
    assert hook.send(notification()).detail == "HTTP 200"
    assert tls_server.recorder.sni == ["hooks.example.test"]
    [request] = tls_server.requests
    assert request["headers"]["host"] == f"hooks.example.test:{tls_server.port}"


def test_https_refuses_a_certificate_for_another_name(tls_server, certificate, clock):
    resolver = sequence_resolver("127.0.0.1")
    context = ssl.create_default_context(cafile=str(certificate[0]))
    hook = notifier(
        tls_server.url(host="other.example.test"), clock, resolver=resolver, ssl_context=context
    )
    with pytest.raises(DeliveryFailed, match="certificate") as caught:
        hook.send(notification())
    assert caught.value.permanent is False
    assert tls_server.requests == []
