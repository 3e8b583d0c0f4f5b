"""The shipped lifecycles, driven at random through a desk, keep every invariant."""

from hypothesis import HealthCheck, settings

from supportflow import lifecycles
from supportflow.testing import LifecycleStateMachine

_SETTINGS = settings(
    max_examples=100,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class StandardLifecycleMachine(LifecycleStateMachine):
    lifecycle = lifecycles.standard()


class SimpleLifecycleMachine(LifecycleStateMachine):
    lifecycle = lifecycles.simple()


TestStandardLifecycle = StandardLifecycleMachine.TestCase
TestStandardLifecycle.settings = _SETTINGS
TestSimpleLifecycle = SimpleLifecycleMachine.TestCase
TestSimpleLifecycle.settings = _SETTINGS
