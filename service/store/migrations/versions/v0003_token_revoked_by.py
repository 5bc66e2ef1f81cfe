"""api_tokens.revoked_by: who revoked a token, shown in the token lists.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: tokens revoked before this revision have no record of who did it.
    op.add_column("api_tokens", sa.Column("revoked_by", sa.String(100), nullable=True))


def downgrade() -> None:
    # SQLite (before 3.35) cannot drop a column in place: batch mode copies the table.
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("revoked_by")
