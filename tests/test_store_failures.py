"""A command that fails at any step of its write leaves no trace: no events,
no snapshot change, no SLA projection or timers, no idempotency record, no
outbox rows. The database itself refuses the write: on PostgreSQL a trigger
raises, on SQLite the connection's authorizer denies the statement."""

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from supportflow import Actor, Desk, ManualClock, SLAPolicy

H = timedelta(hours=1)
AGENT = Actor.agent("ann")
POLICY = SLAPolicy("p", {"high": {"first_response": 2 * H, "resolution": 8 * H}})
STEPS = ["tickets", "events", "sla", "timers", "outbox", "idempotency"]


def _refuse_writes_to(engine, table):
    """Make the database refuse every INSERT, UPDATE and DELETE on ``table``;
    returns the function that lifts the refusal."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.exec_driver_sql(
                f"CREATE FUNCTION {table}_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$BEGIN RAISE EXCEPTION 'injected failure at {table}'; END$$"
            )
            connection.exec_driver_sql(
                f"CREATE TRIGGER {table}_refuse BEFORE INSERT OR UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {table}_refuse()"
            )

        def lift():
            with engine.begin() as connection:
                connection.exec_driver_sql(f"DROP TRIGGER {table}_refuse ON {table}")
                connection.exec_driver_sql(f"DROP FUNCTION {table}_refuse()")

        return lift

    writes = {sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE}

    def authorize(action, name, *rest):
        if action in writes and name == table:
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    def checkout(dbapi_connection, record, proxy):
        dbapi_connection.set_authorizer(authorize)

    engine.dispose()  # every connection from now on is checked out with the authorizer
    sa.event.listen(engine, "checkout", checkout)

    def lift():
        sa.event.remove(engine, "checkout", checkout)
        engine.dispose()

    return lift


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
        table = f"{prefix}{step}"
        refusal = "not authorized" if store.dialect == "sqlite" else f"injected failure at {table}"
        lift = _refuse_writes_to(store.engine, table)
        try:
            with pytest.raises(sa.exc.DatabaseError, match=refusal):
                # One command touching every table: a transition with SLA
                # clocks to update, timers replaced, an outbox row, and an
                # idempotency record.
                desk.transition(ticket.id, "acknowledge", by=AGENT, idempotency_key="retry-key")
        finally:
            lift()
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
