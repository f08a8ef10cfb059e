"""report files, report templates and reviews

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 14:09:10.039486
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('report_templates',
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('file_name', sa.String(length=250), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id'], name=op.f('fk_report_templates_uploaded_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('source', name=op.f('pk_report_templates'))
    )
    op.create_table('report_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('file_name', sa.String(length=250), nullable=False),
    sa.Column('folder', sa.String(length=400), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('pending_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('drive_id', sa.String(length=200), nullable=True),
    sa.Column('item_id', sa.String(length=200), nullable=True),
    sa.Column('web_url', sa.String(length=1000), nullable=True),
    sa.Column('size', sa.Integer(), nullable=True),
    sa.Column('written_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_report_files_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_files')),
    sa.UniqueConstraint('incident_id', 'kind', name='uq_report_files_incident_kind')
    )
    with op.batch_alter_table('report_files', schema=None) as batch_op:
        batch_op.create_index('ix_report_files_status_next', ['status', 'next_attempt_at'], unique=False)

    op.create_table('reviews',
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('public_summary', sa.Text(), nullable=False),
    sa.Column('impact_summary', sa.Text(), nullable=False),
    sa.Column('users_affected', sa.Integer(), nullable=True),
    sa.Column('contributing_factors', sa.Text(), nullable=False),
    sa.Column('what_went_well', sa.Text(), nullable=False),
    sa.Column('lessons_learnt', sa.Text(), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('name_people_in_draft', sa.Boolean(), nullable=False),
    sa.Column('finalised_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_reviews_incident_id_incidents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_reviews_updated_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('incident_id', name=op.f('pk_reviews'))
    )


def downgrade() -> None:
    op.drop_table('reviews')
    with op.batch_alter_table('report_files', schema=None) as batch_op:
        batch_op.drop_index('ix_report_files_status_next')

    op.drop_table('report_files')
    op.drop_table('report_templates')
