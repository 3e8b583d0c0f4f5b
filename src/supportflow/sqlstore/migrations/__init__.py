"""Alembic migrations of the SQL store's tables (run with :func:`supportflow.sqlstore.upgrade`)."""
