"""a sent reminder names the notice (email and Teams post) that carried it, so reminders
due together go out as one message and none is ever in two

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 23:45:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sent_reminders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notice_key', sa.String(length=200), nullable=True))
        batch_op.create_index(batch_op.f('ix_sent_reminders_notice_key'), ['notice_key'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sent_reminders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sent_reminders_notice_key'))
        batch_op.drop_column('notice_key')
