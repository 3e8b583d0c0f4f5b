"""The Apprise notifier against a real HTTP server on loopback."""

import json
import socket
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from supportflow.errors import ConfigError, DeliveryFailed
from supportflow.notify import Notification, Notifier, Receipt, Recipient
from supportflow.notify._apprise import AppriseNotifier

# Apprise imports the deprecated ``imghdr`` module when it loads its plugins
# (apprise/utils/pgp.py, on the first ``Apprise.add``); that is Apprise's
# warning, not ours, and it is the only one ignored here.
pytestmark = pytest.mark.filterwarnings(
    "ignore:'imghdr' is deprecated and slated for removal:DeprecationWarning"
)

TOKEN = "s3cr3t-t0ken"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        self.server.received.append(
            {"path": self.path, "type": self.headers.get("Content-Type", ""), "body": body}
        )
        status = 500 if self.path.startswith("/fail") else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format, *args):  # keep the test output quiet
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.received = []
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _base(server):
    return f"127.0.0.1:{server.server_address[1]}"


def _notification(html=None):
    return Notification(
        id="out-7:ada",
        ticket_id="T-42",
        event_kind="commented",
        event_version=3,
        at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        recipient=Recipient(address="#support", channel="chat", role="group"),
        subject="[#T-42] VPN drops",
        text="Grace replied: restart the client.",
        html=html,
    )


def test_satisfies_the_notifier_protocol(server):
    notifier = AppriseNotifier(f"json://{_base(server)}/ok")
    assert isinstance(notifier, Notifier)
    assert notifier.name == "apprise"
    assert notifier.channels == frozenset({"chat"})
    notifier.close()


def test_posts_title_and_text_body(server):
    notifier = AppriseNotifier(f"json://{_base(server)}/ok/{TOKEN}", name="team-chat")
    receipt = notifier.send(_notification())
    assert receipt == Receipt(
        notification_id="out-7:ada",
        notifier="team-chat",
        detail="1/1 service accepted: json ok",
    )
    [request] = server.received
    assert request["path"] == f"/ok/{TOKEN}"
    payload = json.loads(request["body"])
    assert payload["title"] == "[#T-42] VPN drops"
    assert payload["message"] == "Grace replied: restart the client."


def test_posts_html_body_when_present(server):
    notifier = AppriseNotifier(f"json://{_base(server)}/ok")
    notifier.send(_notification(html="<p>Grace replied: <b>restart</b>.</p>"))
    payload = json.loads(server.received[0]["body"])
    assert payload["message"] == "<p>Grace replied: <b>restart</b>.</p>"


def test_form_service(server):
    notifier = AppriseNotifier([f"form://{_base(server)}/ok"])
    assert notifier.send(_notification()).detail == "1/1 service accepted: form ok"
    form = parse_qs(server.received[0]["body"].decode())
    assert form["title"] == ["[#T-42] VPN drops"]
    assert form["message"] == ["Grace replied: restart the client."]


def test_partial_failure_is_a_receipt_listing_each_service(server):
    notifier = AppriseNotifier(
        [
            f"json://{_base(server)}/ok/{TOKEN}",
            f"json://{_base(server)}/fail/{TOKEN}",
            f"form://{_base(server)}/ok",
        ]
    )
    assert notifier.services == ("json#1", "json#2", "form")
    receipt = notifier.send(_notification())
    assert receipt.detail == "2/3 services accepted: json#1 ok, json#2 failed, form ok"
    assert TOKEN not in receipt.detail
    # Each service was posted to exactly once: a partial result is not retried.
    assert sorted(r["path"] for r in server.received) == ["/fail/" + TOKEN, "/ok", "/ok/" + TOKEN]


def test_all_failing_is_a_retryable_delivery_failure(server):
    notifier = AppriseNotifier(
        [f"json://{_base(server)}/fail/{TOKEN}", f"form://{_base(server)}/fail/{TOKEN}"]
    )
    with pytest.raises(DeliveryFailed) as caught:
        notifier.send(_notification())
    error = caught.value
    assert not error.permanent
    assert "0/2 services accepted: json failed, form failed" in str(error)
    assert "out-7:ada" in str(error)
    assert TOKEN not in str(error)
    assert len(server.received) == 2


def test_unreachable_service_is_a_delivery_failure():
    with socket.socket() as sock:  # a loopback port that is bound but never listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        notifier = AppriseNotifier(f"json://127.0.0.1:{port}/x/{TOKEN}")
        with pytest.raises(DeliveryFailed, match="0/1 service accepted: json failed"):
            notifier.send(_notification())


def test_a_failing_plugin_does_not_stop_the_others(server, monkeypatch):
    notifier = AppriseNotifier([f"json://{_base(server)}/ok", f"form://{_base(server)}/ok"])

    def boom(**kwargs):
        raise RuntimeError(f"cannot reach json://{TOKEN}@host")

    monkeypatch.setattr(notifier._services[0], "notify", boom)
    receipt = notifier.send(_notification())
    assert receipt.detail == "1/2 services accepted: json failed (RuntimeError), form ok"
    assert TOKEN not in receipt.detail


@pytest.mark.parametrize(
    ("urls", "shown"),
    [
        (f"nosuchservice://{TOKEN}@example.com", "scheme nosuchservice"),
        (f"{TOKEN}-without-a-scheme", "scheme <no scheme>"),
        ("json://", "scheme json"),
        (["json://127.0.0.1/ok", f"discord://{TOKEN}"], "#2 (scheme discord)"),
    ],
)
def test_bad_url_is_a_config_error_without_the_token(urls, shown):
    with pytest.raises(ConfigError) as caught:
        AppriseNotifier(urls)
    message = str(caught.value)
    assert shown in message
    assert TOKEN not in message
    assert TOKEN not in repr(caught.value)


@pytest.mark.parametrize("urls", [[], ()])
def test_no_urls_is_a_config_error(urls):
    with pytest.raises(ConfigError, match="at least one Apprise URL"):
        AppriseNotifier(urls)


def test_non_string_url_is_a_config_error():
    with pytest.raises(ConfigError, match=r"#1 \(scheme <no scheme>\)"):
        AppriseNotifier([b"json://127.0.0.1/x"])


def test_bad_channels_and_name():
    with pytest.raises(ConfigError, match="channels"):
        AppriseNotifier("json://127.0.0.1/x", channels={"chat"})
    with pytest.raises(ConfigError, match="name"):
        AppriseNotifier("json://127.0.0.1/x", name="")


def test_repr_shows_schemes_not_urls(server):
    notifier = AppriseNotifier(
        [f"json://user:{TOKEN}@{_base(server)}/ok", f"form://{_base(server)}/{TOKEN}"],
        channels=frozenset({"chat", "ops"}),
    )
    text = repr(notifier)
    assert text == (
        "AppriseNotifier(name='apprise', channels=['chat', 'ops'], services=['json', 'form'])"
    )
    assert TOKEN not in str(notifier)
