"""The SQL store: API tokens and dashboard sessions (SQLAlchemy 2 async + Alembic).

:mod:`~service.store.db` makes the engine and runs or checks the migrations
(shipped in ``migrations/``); :mod:`~service.store.apitokens` and
:mod:`~service.store.sessions` are the two tables' only users. Without a
``database`` in the config none of this is imported.
"""
