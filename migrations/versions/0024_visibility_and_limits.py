"""security incidents' own reference series; one contacts sync at a time

Reference counters are per series and year: INC, and SEC for security incidents, so a
security incident leaves no gap in INC numbers. Existing security incidents keep their
INC references; SEC starts after the highest number they used, so (is_security, year,
number) stays unique. Contact syncs record whether a person started them and hold a
unique slot while queued or running.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-02 18:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reference_counters", recreate="always") as batch_op:
        batch_op.add_column(sa.Column("series", sa.String(length=3), server_default="INC",
                                      nullable=False))
        batch_op.drop_constraint("pk_reference_counters", type_="primary")
        batch_op.create_primary_key("pk_reference_counters", ["series", "year"])
    op.execute(
        "INSERT INTO reference_counters (series, year, last_number) "
        "SELECT 'SEC', year, MAX(number) FROM incidents WHERE is_security "
        "GROUP BY year")
    with op.batch_alter_table("incidents") as batch_op:
        batch_op.drop_constraint("uq_incidents_year_number", type_="unique")
        batch_op.create_unique_constraint("uq_incidents_series_year_number",
                                          ["is_security", "year", "number"])
    with op.batch_alter_table("contact_syncs") as batch_op:
        batch_op.add_column(sa.Column("by_hand", sa.Boolean(), server_default="0",
                                      nullable=False))
        batch_op.add_column(sa.Column("slot", sa.String(length=10), nullable=True))
        batch_op.create_unique_constraint("uq_contact_syncs_slot", ["slot"])


def downgrade() -> None:
    with op.batch_alter_table("contact_syncs") as batch_op:
        batch_op.drop_constraint("uq_contact_syncs_slot", type_="unique")
        batch_op.drop_column("slot")
        batch_op.drop_column("by_hand")
    with op.batch_alter_table("incidents") as batch_op:
        batch_op.drop_constraint("uq_incidents_series_year_number", type_="unique")
        batch_op.create_unique_constraint("uq_incidents_year_number", ["year", "number"])
    op.execute("DELETE FROM reference_counters WHERE series <> 'INC'")
    with op.batch_alter_table("reference_counters", recreate="always") as batch_op:
        batch_op.drop_constraint("pk_reference_counters", type_="primary")
        batch_op.create_primary_key("pk_reference_counters", ["year"])
        batch_op.drop_column("series")
