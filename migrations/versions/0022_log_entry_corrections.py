"""a corrected log entry names who corrected it (timeline_entries.edited_by_id), so the
incident page and the Word reports can say "corrected by X at T"

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-02 18:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('timeline_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('edited_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_timeline_entries_edited_by_id_users'),
                                    'users', ['edited_by_id'], ['id'], ondelete='SET NULL')
    # Entries corrected before: whoever made the latest correction (kept in timeline_edits).
    op.execute(sa.text(
        "UPDATE timeline_entries SET edited_by_id = ("
        " SELECT e.edited_by_id FROM timeline_edits e WHERE e.entry_id = timeline_entries.id"
        " ORDER BY e.edited_at DESC, e.id DESC LIMIT 1)"
        " WHERE edited_at IS NOT NULL"))


def downgrade() -> None:
    with op.batch_alter_table('timeline_entries', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_timeline_entries_edited_by_id_users'),
                                 type_='foreignkey')
        batch_op.drop_column('edited_by_id')
