"""reference counters: one row per year, locked while a number is taken

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 21:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reference_counters",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_reference_counters")),
    )
    op.execute(
        "INSERT INTO reference_counters (year, last_number) "
        "SELECT year, MAX(number) FROM incidents GROUP BY year"
    )


def downgrade() -> None:
    op.drop_table("reference_counters")
