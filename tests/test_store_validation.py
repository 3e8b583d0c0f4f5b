"""Malformed commits and limits are refused the same way by every shipped store,
before anything is written."""

from datetime import timedelta

import pytest

from supportflow import MemoryStore, ValidationError
from supportflow.store import Commit, TicketQuery
from supportflow.testing.storage import START, comment_change, make_timer, open_change


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request, tmp_path, sql_prefix):
    if request.param == "memory":
        yield MemoryStore()
        return
    from supportflow.sqlstore import SQLStore

    url = (
        f"sqlite:///{tmp_path / 'v.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    store = SQLStore(url, prefix=sql_prefix, create=True)
    yield store
    store.metadata.drop_all(store.engine)
    store.close()


def test_a_commit_that_changes_a_ticket_twice_is_refused(store):
    opened = open_change(START)
    store.commit(Commit((opened,)))
    ticket = opened.ticket
    twice = Commit((comment_change(ticket, START), comment_change(ticket, START)))
    with pytest.raises(ValidationError, match=r"changes ticket .* twice"):
        store.commit(twice)
    assert len(store.history(ticket.id)) == 1


def test_a_timer_filed_under_another_ticket_is_refused(store):
    opened = open_change(START)
    stray = make_timer("someone-else", START)
    bad = Commit((type(opened)(opened.ticket, 0, opened.events, timers=(stray,)),))
    with pytest.raises(ValidationError, match="belongs to ticket someone-else"):
        store.commit(bad)
    assert store.load(opened.ticket.id) is None


@pytest.mark.parametrize("limit", [0, -1])
def test_limits_must_be_positive(store, limit):
    with pytest.raises(ValidationError, match="limit must be None or at least 1"):
        store.find(TicketQuery(limit=limit))
    with pytest.raises(ValidationError, match="limit must be None or at least 1"):
        store.claim_due_timers(START, lease=timedelta(minutes=1), limit=limit)
