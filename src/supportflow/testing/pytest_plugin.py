"""Opt-in pytest fixtures for applications that use supportflow.

Enable them in your ``conftest.py``; they are never loaded automatically::

    pytest_plugins = ["supportflow.testing.pytest_plugin"]

Fixtures:

``manual_clock``
    A :class:`~supportflow.ManualClock` at Monday 2026-03-02 09:00 UTC.
``desk``
    A :class:`~supportflow.Desk` in memory on ``manual_clock``, with the
    standard lifecycle and no entry-point plugins (so tests do not depend on
    what happens to be installed).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from supportflow._desk import Desk
from supportflow._time import ManualClock

__all__ = ["desk", "manual_clock"]


@pytest.fixture
def manual_clock() -> ManualClock:
    """A manual clock at Monday 2026-03-02 09:00 UTC."""
    return ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


@pytest.fixture
def desk(manual_clock: ManualClock) -> Desk:
    """An in-memory desk with the standard lifecycle on ``manual_clock``."""
    return Desk(clock=manual_clock, load_entry_points=False)
