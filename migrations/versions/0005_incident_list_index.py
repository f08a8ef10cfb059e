"""index for the incident list's newest-first order

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 12:00:00
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_incidents_declared_id", "incidents", ["declared_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_incidents_declared_id", table_name="incidents")
