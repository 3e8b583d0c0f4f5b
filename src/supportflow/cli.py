"""The ``supportflow`` command line.

``supportflow demo``
    Play a scripted day at a support desk and print each ticket's lifecycle path.
``supportflow lifecycle show [standard|simple|FILE.toml] [--format toml|mermaid]``
    Print a lifecycle definition or its diagram.
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
from supportflow._demo import format_table, run_demo
from supportflow._lifecycle import Lifecycle
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
    rows = run_demo()
    print("A day at the support desk (Monday 2 March 2026, 08:00-17:30 UTC)\n")
    print(format_table(rows))
    states = Counter(row.state for row in rows)
    print("\n" + ", ".join(f"{count} {state}" for state, count in sorted(states.items())))
    print("SLA: business hours Mon-Fri 08:00-18:00 Europe/London; statuses as of 17:30 UTC")
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
    demo.set_defaults(run=_demo)
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
