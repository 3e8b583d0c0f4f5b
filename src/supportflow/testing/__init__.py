"""Helpers for testing code built on supportflow — and supportflow backends.

Public and documented; needs the ``testing`` extra (hypothesis and pytest):

- :mod:`supportflow.testing.strategies`: hypothesis strategies for actors,
  priorities, channels and valid lifecycle definitions.
- :class:`LifecycleStateMachine`: a ``RuleBasedStateMachine`` that drives
  random actors through random commands against your lifecycle and checks the
  desk's invariants after every step.
- :mod:`supportflow.testing.pytest_plugin`: opt-in fixtures
  (``pytest_plugins = ["supportflow.testing.pytest_plugin"]``).
"""

from supportflow.testing.stateful import LifecycleStateMachine
from supportflow.testing.strategies import actors, channels, lifecycles, priorities, priority_inputs

__all__ = [
    "LifecycleStateMachine",
    "actors",
    "channels",
    "lifecycles",
    "priorities",
    "priority_inputs",
]
