"""The ``supportflow`` command line.

``supportflow demo [--store URL]``
    Play a scripted day at a support desk (on a fresh SQLite file by default)
    and print each ticket's lifecycle path and SLA status; then, the next day,
    a breach escalated from the front line to a senior engineer to a manager.
``supportflow db upgrade --store URL [--prefix sf_]``
    Create or migrate supportflow's tables in a database.
``supportflow lifecycle show [standard|simple|FILE.toml] [--format toml|mermaid]``
    Print a lifecycle definition or its diagram.
``supportflow worker --store URL [--notify URL ...] [--app MODULE:FACTORY] [--poll SECONDS]``
    Fire due timers and escalation steps and deliver notifications until
    SIGTERM; ``--once`` runs one pass.
``supportflow lifecycle check FILE.toml``
    Validate a lifecycle file; exit status 1 and every problem listed if invalid.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from supportflow import lifecycles
from supportflow._demo import (
    DEMO_SLA,
    DEMO_START,
    ESCALATION_DIRECTORY,
    ESCALATION_TICK,
    escalation_desk,
    format_escalation,
    format_table,
    run_demo,
    run_escalation_demo,
)
from supportflow._desk import Desk
from supportflow._lifecycle import Lifecycle
from supportflow._time import ManualClock
from supportflow.errors import SupportflowError

__all__ = ["main"]

_SHIPPED = {"standard": lifecycles.standard, "simple": lifecycles.simple}


def _load_lifecycle(name: str) -> Lifecycle:
    if name in _SHIPPED:
        return _SHIPPED[name]()
    path = Path(name)
    if not path.is_file():
        raise SupportflowError(
            f"no lifecycle {name!r}: give 'standard', 'simple' or the path of a TOML file"
        )
    return Lifecycle.from_toml(path.read_text(encoding="utf-8"))


def _demo(args: argparse.Namespace) -> int:
    url = args.store
    if url is None:
        path = Path(args.db)
        for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            leftover.unlink(missing_ok=True)  # every demo day starts from an empty desk
        url = f"sqlite:///{path}"
    clock = ManualClock(DEMO_START)
    desk = Desk(store=url, clock=clock, sla=[DEMO_SLA], load_entry_points=False)
    try:
        rows = run_demo(desk, clock=clock)
        # The next day on the same store and clock, with an escalation policy.
        steps = run_escalation_demo(escalation_desk(clock, desk.store), clock=clock)
    finally:
        desk.store.close()
    print(f"A day at the support desk (Monday 2 March 2026, 08:00-17:30 UTC) on {url}\n")
    print(format_table(rows))
    states = Counter(row.state for row in rows)
    print("\n" + ", ".join(f"{count} {state}" for state, count in sorted(states.items())))
    print("SLA: business hours Mon-Fri 08:00-18:00 Europe/London; statuses as of 17:30 UTC")
    minutes = int(ESCALATION_TICK.total_seconds() // 60)
    print(
        "\nEscalation: a high-priority ticket nobody resolves (Tuesday 3 March 2026, "
        f"resolution target 8 business hours; desk.run_due every {minutes} min)\n"
    )
    print(format_escalation(steps))
    hands = dict.fromkeys(step.assignee for step in steps if step.assignee is not None)
    chain = [f"{agent} ({ESCALATION_DIRECTORY.agents[agent].tier.value})" for agent in hands]
    print("\nassignee: " + " > ".join(chain) + "; times in Europe/London")
    return 0


def _db_upgrade(args: argparse.Namespace) -> int:
    from supportflow.sqlstore import upgrade

    upgrade(args.store, prefix=args.prefix)
    print(f"supportflow tables (prefix {args.prefix!r}) are up to date in {args.store}")
    return 0


def _worker(args: argparse.Namespace) -> int:
    import importlib
    import signal
    from datetime import timedelta

    from supportflow._worker import Worker, WorkerTotals
    from supportflow.notify import Dispatcher, notifier_from_url

    if args.app is not None:
        # The operator names the factory on the command line, as for a WSGI
        # server; it builds the desk with its policies, directory and plugins.
        module_name, _, attribute = args.app.partition(":")
        if not module_name or not attribute:
            raise SupportflowError(f"--app takes MODULE:FACTORY, got {args.app!r}")
        factory = getattr(importlib.import_module(module_name), attribute)
        desk = factory()
        if not isinstance(desk, Desk):
            raise SupportflowError(f"{args.app} returned {desk!r}, not a Desk")
    elif args.store is not None:
        # A bare desk has none of the application's policies: it delivers
        # notifications, and leaves timers to a worker started with --app.
        desk = Desk(store=args.store, outbox=bool(args.notify))
        print(
            "supportflow worker: no --app, so no SLA or escalation policies: delivering "
            "notifications only; due timers need a worker started with --app",
            flush=True,
        )
    else:
        raise SupportflowError("give --store URL, or --app MODULE:FACTORY returning a Desk")
    notifiers = [notifier_from_url(url) for url in args.notify]
    dispatcher = Dispatcher.for_desk(desk, notifiers) if notifiers else None

    def progress(totals: WorkerTotals) -> None:
        print(f"supportflow worker: {totals.line()}", flush=True)

    worker = Worker(desk, dispatcher, poll=timedelta(seconds=args.poll), report=progress)

    def stop(signum: int, _frame: object) -> None:
        print(f"supportflow worker: {signal.Signals(signum).name}, finishing the pass", flush=True)
        worker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"supportflow worker: started on {desk.store!r}", flush=True)
    try:
        totals = worker.run(max_passes=1 if args.once else None)
    finally:
        if dispatcher is not None:
            dispatcher.close()
        desk.store.close()
    print(f"supportflow worker: stopped after {totals.line()}", flush=True)
    return 0


def _show(args: argparse.Namespace) -> int:
    lifecycle = _load_lifecycle(args.lifecycle)
    print(lifecycle.to_mermaid() if args.format == "mermaid" else lifecycle.to_toml(), end="")
    return 0


def _check(args: argparse.Namespace) -> int:
    lifecycle = _load_lifecycle(args.file)
    print(
        f"lifecycle {lifecycle.name!r} is valid: {len(lifecycle.states)} states, "
        f"{len(lifecycle.transitions)} transitions"
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="supportflow", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="play a scripted day at a support desk")
    demo.add_argument("--db", default="supportflow-demo.db", help="the SQLite file to (re)create")
    demo.add_argument("--store", help="a store URL instead, e.g. postgresql://postgres@/test")
    demo.set_defaults(run=_demo)
    db = commands.add_parser("db", help="manage supportflow's database schema")
    db_actions = db.add_subparsers(dest="action", required=True)
    db_upgrade = db_actions.add_parser("upgrade", help="create or migrate the tables")
    db_upgrade.add_argument("--store", required=True, help="a database URL")
    db_upgrade.add_argument("--prefix", default="sf_", help="table name prefix (default sf_)")
    db_upgrade.set_defaults(run=_db_upgrade)
    worker = commands.add_parser(
        "worker", help="fire due timers and deliver notifications until SIGTERM"
    )
    worker.add_argument("--store", help="the desk's store URL (a desk without policies)")
    worker.add_argument("--app", help="MODULE:FACTORY, a function returning your configured Desk")
    worker.add_argument(
        "--notify",
        action="append",
        default=[],
        metavar="URL",
        help="a notifier URL (log://, smtp://..., webhook+https://...); repeatable",
    )
    worker.add_argument(
        "--poll", type=float, default=5.0, help="seconds between idle passes (default 5)"
    )
    worker.add_argument("--once", action="store_true", help="run one pass and exit")
    worker.set_defaults(run=_worker)
    lifecycle = commands.add_parser("lifecycle", help="show or check lifecycle definitions")
    actions = lifecycle.add_subparsers(dest="action", required=True)
    show = actions.add_parser("show", help="print a lifecycle as TOML or a mermaid diagram")
    show.add_argument("lifecycle", nargs="?", default="standard")
    show.add_argument("--format", choices=["toml", "mermaid"], default="toml")
    show.set_defaults(run=_show)
    check = actions.add_parser("check", help="validate a lifecycle TOML file")
    check.add_argument("file")
    check.set_defaults(run=_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        status: int = args.run(args)
    except SupportflowError as exc:
        print(f"supportflow: {exc}", file=sys.stderr)
        return 1
    return status


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
