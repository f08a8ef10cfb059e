"""users.teams_user_id: the person's Teams user id (their `29:` MRI), learnt from the
activities the bot receives from them, so a card can name who refreshes it automatically

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-03 08:20:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('teams_user_id', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.drop_column('teams_user_id')
