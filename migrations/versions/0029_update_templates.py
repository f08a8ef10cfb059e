"""update_templates: saved starting wordings for status updates, which administrators
edit, seeded with "Possible issue being investigated" and one per phase (the words
app/updates/phrasing.py falls back to, written out here so this migration never changes)

Seeded here rather than on first use: pages that read templates are GETs, which run in
read-only transactions (app/core/reads.py), and a retired-everything list must stay
empty rather than be seeded again.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-05 10:00:00.000000
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None

SEEDS = (
    ("Possible issue being investigated", "investigating", 10,
     "We are investigating reports that {services} {problem}. {impact} We will update you "
     "{next_update}.",
     "Possible incident: {services} {problem}. We are checking whether users are affected "
     "and how many. Next update {next_update}."),
    ("Investigating", "investigating", 20,
     "We are investigating a problem with {services}. {impact} We will update you "
     "{next_update}.", ""),
    ("Identified", "identified", 30,
     "We have identified the cause of the problem with {services} and are working on a "
     "fix. {impact} We will update you {next_update}.", ""),
    ("Monitoring", "monitoring", 40,
     "A fix has been put in place for the problem with {services}. We are monitoring to "
     "make sure it holds. We will update you {next_update}.", ""),
    ("Resolved", "resolved", 50,
     "The problem with {services} has been resolved. Users should no longer be affected. "
     "Thank you for your patience.", ""),
)


def upgrade() -> None:
    table = op.create_table('update_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('phase', sa.String(length=20), nullable=False),
    sa.Column('public_text', sa.Text(), nullable=False),
    sa.Column('internal_text', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_update_templates')),
    sa.UniqueConstraint('name', name=op.f('uq_update_templates_name'))
    )
    now = datetime.now(UTC)
    op.bulk_insert(table, [
        {"name": name, "phase": phase, "position": position, "public_text": public,
         "internal_text": internal, "active": True, "updated_by": "", "updated_at": now}
        for name, phase, position, public, internal in SEEDS])


def downgrade() -> None:
    op.drop_table('update_templates')
