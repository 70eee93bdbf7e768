"""Sessions of two kinds: browser cookies and API bearer tokens (the JSON API issue).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every existing row is a browser's: the server default says so without rewriting a row.
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=8), nullable=False, server_default="browser")
        )
        batch.add_column(sa.Column("name", sa.String(length=100), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM sessions WHERE kind = 'api'")  # tokens cannot become browsers
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("name")
        batch.drop_column("kind")
