"""accounts and tokens outlive nothing: users.sign_in_name (what ADMIN_EMAILS and
SECURITY_EMAILS are matched against: an Entra sign-in's user principal name, never the
`email` claim) and api_tokens.expires_at (every token expires; those made before this
last 90 days from their creation, and at least 30 days from the upgrade, so a token an
alerting tool relies on is not cut off the moment the new version starts)

Entra accounts get their sign_in_name at their next sign-in (until then only their app
roles give them rights); dev sign-in accounts (no tenant) keep their email.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 18:00:00.000000
"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

EXISTING_TOKEN_DAYS = 90
NOTICE_DAYS = 30

api_tokens = sa.table('api_tokens', sa.column('id', sa.Integer),
                      sa.column('created_at', sa.DateTime(timezone=True)),
                      sa.column('expires_at', sa.DateTime(timezone=True)))
users = sa.table('users', sa.column('email', sa.String), sa.column('tenant_id', sa.String),
                 sa.column('sign_in_name', sa.String))


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sign_in_name', sa.String(length=320), nullable=True))
    op.execute(users.update().where(users.c.tenant_id.is_(None))
               .values(sign_in_name=users.c.email))
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True),
                                      nullable=True))
    bind = op.get_bind()
    notice = datetime.now(UTC) + timedelta(days=NOTICE_DAYS)
    for token_id, created_at in bind.execute(sa.select(api_tokens.c.id,
                                                       api_tokens.c.created_at)).all():
        if created_at.tzinfo is None:  # SQLite gives back what was stored, without a zone
            created_at = created_at.replace(tzinfo=UTC)
        bind.execute(api_tokens.update().where(api_tokens.c.id == token_id).values(
            expires_at=max(created_at + timedelta(days=EXISTING_TOKEN_DAYS), notice)))
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.alter_column('expires_at', existing_type=sa.DateTime(timezone=True),
                              nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('sign_in_name')
