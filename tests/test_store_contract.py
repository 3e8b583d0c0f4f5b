"""The storage conformance kit, run against the reference MemoryStore.

These are the few lines a plugin author writes for their own backend.
"""

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from supportflow.store import MemoryStore
from supportflow.testing.storage import StoreContract, store_machine_test


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def store(self) -> Iterator[MemoryStore]:
        store = MemoryStore()
        yield store
        store.close()


TestMemoryStoreMachine = store_machine_test(
    MemoryStore,
    settings=settings(
        max_examples=150,
        stateful_step_count=50,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    ),
)
