"""A command that fails at any step of its write leaves no trace: no events,
no snapshot change, no SLA projection or timers, no idempotency record, no
outbox rows. The failure is injected into the real database conversation."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from supportflow import Actor, Desk, ManualClock, SLAPolicy

H = timedelta(hours=1)
AGENT = Actor.agent("ann")
POLICY = SLAPolicy("p", {"high": {"first_response": 2 * H, "resolution": 8 * H}})
STEPS = ["tickets", "events", "sla", "timers", "outbox", "idempotency"]


class InjectedFailure(Exception):
    pass


def _fail_on_write_to(engine, table):
    def before(conn, cursor, statement, parameters, context, executemany):
        text = " ".join(statement.split()).lower()
        if text.startswith(("insert", "update", "delete")) and f" {table} " in f" {text} ":
            raise InjectedFailure(f"the database refused a write to {table}")

    sa.event.listen(engine, "before_cursor_execute", before)
    return lambda: sa.event.remove(engine, "before_cursor_execute", before)


def _observed(store, ticket_id):
    return (
        store.load(ticket_id),
        tuple(store.history(ticket_id)),
        store.sla_projection(ticket_id),
        store.pending_timers(ticket_id),
        store.outbox_backlog(),
        store.idempotency("retry-key"),
    )


def _check(url, prefix, step):
    from supportflow.sqlstore import SQLStore, upgrade

    upgrade(url, prefix=prefix)
    store = SQLStore(url, prefix=prefix)
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    desk = Desk(
        store=store, clock=clock, sla=[POLICY], outbox=True, retries=0, load_entry_points=False
    )
    try:
        ticket = desk.open_ticket(subject="VPN", requester="alice@example.com", priority="high")
        before = _observed(store, ticket.id)
        clock.advance(H)
        restore = _fail_on_write_to(store.engine, f"{prefix}{step}")
        try:
            with pytest.raises(InjectedFailure):
                # One command touching every table: a transition with SLA
                # clocks to update, timers replaced, an outbox row, and an
                # idempotency record.
                desk.transition(ticket.id, "acknowledge", by=AGENT, idempotency_key="retry-key")
        finally:
            restore()
        assert _observed(store, ticket.id) == before
        # ... and the same command then goes through untouched.
        assert (
            desk.transition(ticket.id, "acknowledge", by=AGENT, idempotency_key="retry-key").version
            == 2
        )
    finally:
        store.close()


@pytest.mark.parametrize("step", STEPS)
def test_sqlite_write_failing_at_any_step_leaves_nothing(step, sqlite_url, sql_prefix):
    _check(sqlite_url, sql_prefix, step)


@pytest.mark.parametrize("step", STEPS)
def test_postgresql_write_failing_at_any_step_leaves_nothing(step, postgres_url, sql_prefix):
    _check(postgres_url, sql_prefix, step)
