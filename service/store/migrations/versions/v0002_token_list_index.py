"""Index api_tokens.created_at: the token list is read newest first.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_api_tokens_created_at", "api_tokens", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_api_tokens_created_at", table_name="api_tokens")
