"""Alembic's environment: migrations run on the connection ``shapestoken db upgrade`` opens."""

from __future__ import annotations

from alembic import context

from service.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the migrations with `shapestoken db upgrade`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite alters a table by copying it; Alembic's batch mode writes that for it.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
