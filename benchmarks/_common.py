"""What the benchmark scripts share: Markdown tables, number formats, the
environment they ran in, and their command line.

The scripts run as ``python benchmarks/bench_<name>.py``, so this module is
importable as ``_common`` from any of them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def micros(value: float, digits: int) -> str:
    """Microseconds with thousands separators: ``1,234.56 µs``."""
    return f"{value:,.{digits}f} µs"


def times(a: float, b: float, digits: int) -> str:
    """The ratio ``a / b`` as ``1.23×`` (``n/a`` for a zero baseline)."""
    return f"{a / b:.{digits}f}×" if b else "n/a"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def package_version(name: str, missing: str = "?") -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return missing


def environment(**extra: Any) -> dict[str, Any]:
    """The interpreter and machine, followed by ``extra`` (package versions, ...)."""
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        **extra,
    }


def parse_args(
    doc: str | None,
    quick_help: str,
    argv: Sequence[str] | None = None,
    more: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """The common options ``--quick`` and ``--json PATH``, plus ``more``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--json", metavar="PATH", help="also write the raw numbers as JSON")
    if more is not None:
        more(parser)
    return parser.parse_args(argv)


def emit(results: dict[str, Any], text: str, json_path: str | None) -> None:
    """Print the report and the run's duration; write the raw numbers if asked."""
    print(text)
    print(f"(benchmark time: {results['elapsed_s']:.1f} s)")
    if json_path:
        with open(json_path, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2, default=str)
