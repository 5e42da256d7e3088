"""Alembic migrations of loginledger's tables, shipped with the package.

Run them with `loginledger.infrastructure.sql.upgrade_database(url)`; the
embedded SQLite store runs them itself when it opens.
"""
