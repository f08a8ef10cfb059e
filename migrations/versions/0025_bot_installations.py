"""bot installations: the teams the Incident Desk Teams app is installed in, from the
installationUpdate / conversationUpdate activities Teams sends the bot

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-03 08:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'bot_installations',
        sa.Column('team_id', sa.String(length=200), nullable=False),
        sa.Column('thread_id', sa.String(length=200), nullable=False),
        sa.Column('tenant_id', sa.String(length=100), nullable=False),
        sa.Column('service_url', sa.String(length=500), nullable=False),
        sa.Column('installed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('removed_because', sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint('team_id', name=op.f('pk_bot_installations')),
    )


def downgrade() -> None:
    op.drop_table('bot_installations')
