"""Notification delivery: the dispatcher posting webhooks against a raw httpx loop.

Run::

    python benchmarks/bench_notify.py --quick      # 300 notifications, < 30 s
    python benchmarks/bench_notify.py              # 2,000 notifications, < 2 minutes
    python benchmarks/bench_notify.py --json notify.json
    python benchmarks/bench_notify.py --profile    # also cProfile one dispatcher run per store

The target comes from the notifications issue: dispatcher throughput to a local
HTTP server within 2× of a raw ``httpx`` loop posting the same payloads.

One ``http.server.ThreadingHTTPServer`` (HTTP/1.1, keep-alive allowed) listens on
127.0.0.1 in a background thread of this process. It reads each request body,
answers ``200`` with an empty body, and counts requests and connections; every
run asserts both counts.

Rows, each on the same N notifications (one per opened ticket):

* ``Dispatcher.drain`` with a ``WebhookNotifier`` (signed, allow-listed for
  127.0.0.1), on a ``Desk(outbox=True)`` over a ``MemoryStore``, and again over a
  ``SQLStore`` on a SQLite file. The N tickets are opened untimed; the timed part
  is ``drain()``: claiming outbox rows, routing, rendering, queueing, claiming
  deliveries, building and signing each body, checking the destination,
  posting it, and recording the outcome.
* raw ``httpx``: one ``httpx.Client`` posting the same body bytes with the same
  Standard Webhooks headers (HMAC-SHA256 per request), built untimed from the
  notifications the dispatcher produces (the first 300 checked byte for byte
  against what the ``WebhookNotifier`` sends). The baseline sends ``Connection: close``, so it
  opens one connection per request like the notifier does; an informational
  row reuses connections (keep-alive).
* the floor (informational): a plain socket per request sending the complete
  request bytes, signed and serialized beforehand, and reading the answer. It is
  what the server, the kernel and the connection cost, which every other row
  pays too.
* the dispatcher alone (informational): ``drain()`` on a ``MemoryStore`` with a
  notifier that keeps the notifications instead of posting them.

Timings are the best and the median of N repeats of ``time.perf_counter``
around one run with the garbage collector disabled (collected first), after an
untimed warm-up run of 100 notifications per row; the rows are timed in
interleaved rounds, so a noisy moment of the machine hits all of them alike.
The server runs in the same process, so every row shares its cost (and the
GIL) alike.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import gc
import hashlib
import hmac
import io
import json
import math
import pstats
import random
import shutil
import socket
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import _common
import httpx
from _common import emit, package_version, table, verdict

from supportflow import Desk, ManualClock, MemoryStore
from supportflow.notify import Dispatcher, Notification, Receipt, Route, WebhookNotifier
from supportflow.notify._webhook import DEFAULT_USER_AGENT
from supportflow.sqlstore import SQLStore

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
KEY = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ALLOW = ["127.0.0.1/32"]

#: Sizes and repeats: (full, quick).
PARAMS: dict[str, tuple[Any, Any]] = {
    "notifications": (2_000, 300),
    "repeats": (4, 5),
    "batch": (100, 100),
    "checked": (300, 300),
}

SF_MEMORY = "Dispatcher.drain → WebhookNotifier, MemoryStore"
SF_SQLITE = "Dispatcher.drain → WebhookNotifier, SQLStore (SQLite file)"
RAW_CLOSE = "raw httpx, connection per request (baseline)"
RAW_KEEPALIVE = "raw httpx, keep-alive (info)"
NO_HTTP = "Dispatcher.drain → in-memory notifier, MemoryStore (no HTTP)"
FLOOR = "raw socket, prepared request bytes, connection per request (floor)"


# -- the receiver ------------------------------------------------------------------------------


class Receiver:
    """A loopback HTTP server in a background thread that counts what it gets."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.connections = 0
        self.recording: list[tuple[dict[str, str], bytes]] | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with receiver.lock:
                    receiver.connections += 1

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver.lock:
                    receiver.requests += 1
                    if receiver.recording is not None:
                        receiver.recording.append(
                            ({k.lower(): v for k, v in self.headers.items()}, body)
                        )
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.request_queue_size = 128
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/supportflow"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def counts(self) -> tuple[int, int]:
        with self.lock:
            return self.requests, self.connections

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


# -- the two sides -------------------------------------------------------------------------------


def open_tickets(desk: Desk, count: int) -> None:
    for number in range(count):
        desk.open_ticket(
            subject=f"VPN drops every few minutes (#{number})",
            requester=f"customer{number}@example.com",
            priority="high",
            channel="email",
            description="Since this morning the VPN client disconnects every few minutes.",
        )


def new_desk(store: Any, count: int) -> Desk:
    desk = Desk(store=store, clock=ManualClock(START), outbox=True, load_entry_points=False)
    open_tickets(desk, count)
    return desk


def dispatcher(desk: Desk, notifiers: Sequence[Any], url: str, batch: int) -> Dispatcher:
    return Dispatcher.for_desk(
        desk,
        notifiers,
        routes=[Route(on="opened", to="webhook:" + url)],
        batch=batch,
        rng=random.Random(1),
    )


def webhook(url: str, desk: Desk) -> WebhookNotifier:
    return WebhookNotifier(url, secret=KEY, allow=ALLOW, clock=desk.clock)


class Capture:
    """A notifier that keeps what it is given (to build the raw side's payloads)."""

    name = "capture"
    channels = frozenset({"webhook"})

    def __init__(self) -> None:
        self.got: list[Notification] = []

    def send(self, notification: Notification) -> Receipt:
        self.got.append(notification)
        return Receipt(notification.id, self.name, detail="kept")

    def close(self) -> None:
        pass


def hand_body(notification: Notification) -> bytes:
    """The JSON body ``WebhookNotifier`` posts, written out by hand."""
    payload = {
        "type": f"ticket.{notification.event_kind}",
        "timestamp": notification.at.astimezone(UTC).isoformat(),
        "id": notification.id,
        "data": {
            **notification.data,
            "ticket_id": notification.ticket_id,
            "event_version": notification.event_version,
            "subject": notification.subject,
            "text": notification.text,
        },
    }
    return json.dumps(
        payload, ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
    ).encode("utf-8")


def standard_key(secret: str) -> bytes:
    encoded = secret.removeprefix("whsec_")
    return base64.b64decode(encoded + "=" * (-len(encoded) % 4))


def raw_post_all(
    client: httpx.Client,
    url: str,
    payloads: Sequence[tuple[str, bytes]],
    clock: ManualClock,
    key: bytes,
    extra: Mapping[str, str],
) -> None:
    """The raw loop: sign each body (HMAC-SHA256, Standard Webhooks) and POST it."""
    for msg_id, body in payloads:
        stamp = str(math.floor(clock.now().timestamp()))
        digest = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
        headers = {
            "content-type": "application/json",
            "user-agent": DEFAULT_USER_AGENT,
            "webhook-id": msg_id,
            "webhook-timestamp": stamp,
            "webhook-signature": "v1," + base64.b64encode(digest).decode("ascii"),
            **extra,
        }
        response = client.post(url, content=body, headers=headers)
        if response.status_code != 200:
            raise AssertionError(f"raw httpx got HTTP {response.status_code}")


def build_payloads(
    receiver: Receiver, count: int, batch: int, checked: int
) -> list[tuple[str, bytes]]:
    """The raw side's (webhook-id, body) pairs, from the notifications the dispatcher
    produces for ``count`` opened tickets. For the first ``checked`` of them, what
    ``WebhookNotifier``, the raw httpx loop and the floor's prepared requests post is
    compared byte for byte (bodies and Standard Webhooks headers)."""
    desk = new_desk(MemoryStore(), count)
    capture = Capture()
    report = dispatcher(desk, [capture], receiver.url, batch).drain()
    assert report.sent == count == len(capture.got), (report, len(capture.got))
    payloads = [(n.id, hand_body(n)) for n in capture.got]
    assert len({msg_id for msg_id, _ in payloads}) == count

    key = standard_key(KEY)
    notifier = webhook(receiver.url, desk)
    mine = payloads[:checked]

    def by_notifier() -> None:
        for notification in capture.got[:checked]:
            notifier.send(notification)

    def by_httpx() -> None:
        with httpx.Client() as client:
            raw_post_all(
                client, receiver.url, mine, ManualClock(START), key, {"Connection": "close"}
            )

    def by_socket() -> None:
        for request in floor_requests(receiver, mine, key):
            post_bytes(receiver.server.server_address[:2], request)

    seen = []
    for send in (by_notifier, by_httpx, by_socket):
        receiver.recording = []
        try:
            send()
            seen.append(receiver.recording)
        finally:
            receiver.recording = None
    names = ("content-type", "user-agent", "webhook-id", "webhook-timestamp", "webhook-signature")
    expected = seen[0]
    assert len(expected) == checked
    for other in seen[1:]:
        assert len(other) == checked
        for (sf_headers, sf_body), (raw_headers, raw_body) in zip(expected, other, strict=True):
            assert sf_body == raw_body, "a raw payload differs from the notifier's body"
            for name in names:
                assert sf_headers[name] == raw_headers[name], name
    return payloads


def post_bytes(address: tuple[str, int], request: bytes) -> None:
    """The floor: connect, send a prepared request, read the answer to the end."""
    with socket.create_connection(address) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    if not answer.startswith(b"HTTP/1.1 200 "):
        raise AssertionError(f"raw socket got {answer[:40]!r}")


# -- rows ------------------------------------------------------------------------------------------


@dataclass
class Row:
    """One measured variant: ``setup(count)`` (untimed) returns the timed callable
    for ``count`` notifications and a teardown; the receiver's counters are checked
    after each run (one request per notification, and one connection per request
    unless ``keep_alive``)."""

    setup: Callable[[int], tuple[Callable[[], object], Callable[[], None]]]
    keep_alive: bool = False
    http: bool = True
    times: list[float] = field(default_factory=list)


def make_rows(
    receiver: Receiver, payloads: Sequence[tuple[str, bytes]], batch: int, workdir: Path
) -> dict[str, Row]:
    url = receiver.url
    key = standard_key(KEY)
    runs = iter(range(1_000_000))

    def sf_setup(store_factory: Callable[[], Any]) -> Callable[[int], Any]:
        def setup(count: int) -> tuple[Callable[[], object], Callable[[], None]]:
            store = store_factory()
            desk = new_desk(store, count)
            disp = dispatcher(desk, [webhook(url, desk)], url, batch)

            def run() -> None:
                report = disp.drain()
                if report.sent != count or report.retried or report.dead:
                    raise AssertionError(f"dispatcher: {report}")

            def teardown() -> None:
                disp.close()
                close = getattr(store, "close", None)
                if close is not None:
                    close()

            return run, teardown

        return setup

    def no_http_setup(count: int) -> tuple[Callable[[], object], Callable[[], None]]:
        desk = new_desk(MemoryStore(), count)
        disp = dispatcher(desk, [Capture()], url, batch)

        def run() -> None:
            report = disp.drain()
            if report.sent != count:
                raise AssertionError(f"dispatcher: {report}")

        return run, disp.close

    def sqlite_store() -> SQLStore:
        path = workdir / f"notify-{next(runs)}.db"
        return SQLStore(f"sqlite:///{path}", create=True)

    def raw_setup(extra: Mapping[str, str]) -> Callable[[int], Any]:
        def setup(count: int) -> tuple[Callable[[], object], Callable[[], None]]:
            clock = ManualClock(START)
            client = httpx.Client()
            mine = payloads[:count]

            def run() -> None:
                raw_post_all(client, url, mine, clock, key, extra)

            return run, client.close

        return setup

    def floor_setup(count: int) -> tuple[Callable[[], object], Callable[[], None]]:
        requests = floor_requests(receiver, payloads[:count], key)
        address = receiver.server.server_address[:2]

        def run() -> None:
            for request in requests:
                post_bytes(address, request)

        return run, lambda: None

    return {
        SF_MEMORY: Row(sf_setup(MemoryStore)),
        SF_SQLITE: Row(sf_setup(sqlite_store)),
        RAW_CLOSE: Row(raw_setup({"Connection": "close"})),
        RAW_KEEPALIVE: Row(raw_setup({}), keep_alive=True),
        FLOOR: Row(floor_setup),
        NO_HTTP: Row(no_http_setup, http=False),
    }


def floor_requests(
    receiver: Receiver, payloads: Sequence[tuple[str, bytes]], key: bytes
) -> list[bytes]:
    """The complete HTTP requests of the floor row, signed and serialized beforehand."""
    stamp = str(math.floor(START.timestamp()))
    host = f"127.0.0.1:{receiver.server.server_address[1]}"
    target = receiver.url.split(host, 1)[1]
    requests = []
    for msg_id, body in payloads:
        digest = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
        head = (
            f"POST {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
            f"content-type: application/json\r\nuser-agent: {DEFAULT_USER_AGENT}\r\n"
            f"webhook-id: {msg_id}\r\nwebhook-timestamp: {stamp}\r\n"
            f"webhook-signature: v1,{base64.b64encode(digest).decode('ascii')}\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        )
        requests.append(head.encode("ascii") + body)
    return requests


def measure_once(receiver: Receiver, row: Row, count: int) -> float:
    run, teardown = row.setup(count)
    try:
        requests0, connections0 = receiver.counts()
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            run()
            elapsed = time.perf_counter() - t0
        finally:
            gc.enable()
        requests1, connections1 = receiver.counts()
    finally:
        teardown()
    got = requests1 - requests0
    if not row.http:
        assert got == 0, f"the server got {got} requests, expected none"
        return elapsed
    assert got == count, f"the server got {got} requests, expected {count}"
    opened = connections1 - connections0
    if row.keep_alive:
        assert opened <= 2, f"keep-alive opened {opened} connections"
    else:
        assert opened == count, f"{opened} connections for {count} requests"
    return elapsed


def interleaved(receiver: Receiver, rows: Mapping[str, Row], count: int, repeats: int) -> None:
    """One small untimed warm-up run per row, then ``repeats`` interleaved rounds."""
    for row in rows.values():
        measure_once(receiver, row, min(count, 100))
    for _ in range(repeats):
        for row in rows.values():
            row.times.append(measure_once(receiver, row, count))


def profile_dispatcher(receiver: Receiver, p: Mapping[str, Any], workdir: Path) -> str:
    """cProfile of one dispatcher run per store: the top functions by own and
    cumulative time."""
    url = receiver.url
    out = io.StringIO()
    stores = {
        "MemoryStore": MemoryStore,
        "SQLStore (SQLite file)": lambda: SQLStore(
            f"sqlite:///{workdir / 'profile.db'}", create=True
        ),
    }
    for name, make in stores.items():
        desk = new_desk(make(), p["notifications"])
        disp = dispatcher(desk, [webhook(url, desk)], url, p["batch"])
        profiler = cProfile.Profile()
        profiler.enable()
        disp.drain()
        profiler.disable()
        out.write(f"--- {name} ---\n")
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(20)
        stats.sort_stats("cumulative").print_stats(30)
    return out.getvalue()


# -- report --------------------------------------------------------------------------------------


def environment() -> dict[str, Any]:
    return _common.environment(
        sqlite=sqlite3.sqlite_version,
        httpx=package_version("httpx"),
        httpcore=package_version("httpcore"),
        sqlalchemy=package_version("sqlalchemy"),
        supportflow=package_version("supportflow"),
    )


def us(value: float) -> str:
    return _common.micros(value, 1)


def report(results: dict[str, Any]) -> str:
    env = results["env"]
    p = results["params"]
    rows = results["rows"]
    base = rows[RAW_CLOSE]["best_s"]
    out = [
        f"# Notification delivery: {p['notifications']:,} webhooks to a loopback HTTP server "
        f"(best of {p['repeats']} interleaved rounds, dispatcher batch {p['batch']})\n",
        f"Python {env['python']} ({env['implementation']}) on {env['platform']}, "
        f"{env['machine']}, {env['cpu_count']} CPUs; SQLite {env['sqlite']}; "
        f"httpx {env['httpx']} (httpcore {env['httpcore']}), SQLAlchemy {env['sqlalchemy']}, "
        f"supportflow {env['supportflow']}; mode: {results['mode']}\n",
    ]
    body = []
    for name, v in rows.items():
        if name == RAW_CLOSE:
            target, result = "baseline", "—"
        elif name in (RAW_KEEPALIVE, FLOOR, NO_HTTP):
            target, result = "info", "—"
        else:
            target, result = "≤ 2×", verdict(v["best_s"] <= 2 * base)
        body.append(
            [
                name,
                f"{v['best_s'] * 1e3:,.0f} ms",
                f"{v['median_s'] * 1e3:,.0f} ms",
                us(v["us"]),
                f"{v['per_s']:,.0f}",
                _common.times(v["best_s"], base, 2),
                target,
                result,
            ]
        )
    out.append(
        table(
            [
                "row",
                "total (best)",
                "median",
                "per notification",
                "notifications/s",
                "× raw httpx (conn./request)",
                "target",
                "result",
            ],
            body,
        )
    )
    out.append(
        "\nEvery run asserted the server's request count (and one connection per request, "
        "except keep-alive). The raw bodies and Standard Webhooks headers were checked "
        f"byte for byte against the notifier's ({p['checked']:,} notifications)."
    )
    if results.get("profile"):
        out.append("\n## cProfile of one dispatcher run per store\n")
        out.append("```\n" + results["profile"].rstrip() + "\n```")
    return "\n".join(out) + "\n"


def run(quick: bool, profile: bool) -> dict[str, Any]:
    p = {key: values[1 if quick else 0] for key, values in PARAMS.items()}
    results: dict[str, Any] = {"mode": "quick" if quick else "full", "params": p}
    results["env"] = environment()
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="supportflow-bench-notify-"))
    receiver = Receiver()
    try:
        payloads = build_payloads(receiver, p["notifications"], p["batch"], p["checked"])
        rows = make_rows(receiver, payloads, p["batch"], workdir)
        count = p["notifications"]
        interleaved(receiver, rows, count, p["repeats"])
        results["rows"] = {
            name: {
                "best_s": min(row.times),
                "median_s": statistics.median(row.times),
                "times_s": row.times,
                "us": min(row.times) / count * 1e6,
                "median_us": statistics.median(row.times) / count * 1e6,
                "per_s": count / min(row.times),
            }
            for name, row in rows.items()
        }
        base = results["rows"][RAW_CLOSE]["best_s"]
        results["ratios"] = {
            name: v["best_s"] / base for name, v in results["rows"].items() if name != RAW_CLOSE
        }
        results["pass"] = all(results["ratios"][name] <= 2 for name in (SF_MEMORY, SF_SQLITE))
        if profile:
            results["profile"] = profile_dispatcher(receiver, p, workdir)
    finally:
        receiver.close()
        shutil.rmtree(workdir, ignore_errors=True)
    results["elapsed_s"] = time.perf_counter() - started
    return results


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also print a cProfile of one dispatcher run per store",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _common.parse_args(__doc__, "300 notifications (< 30 s)", argv, _options)
    results = run(args.quick, args.profile)
    emit(results, report(results), args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
