"""SQL: API tokens and dashboard sessions (SQLAlchemy 2 async, schema under Alembic)."""
