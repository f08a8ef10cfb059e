"""writing a report file is an outbox delivery: its debounce is the delivery's due time
(deliveries.requested_at, pending_since); report_files keeps only what the library has

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 14:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

KIND = 'sharepoint.report'
LABELS = {'running': 'Running incident report', 'major': 'Major incident report',
          'review_draft': 'Post-incident review (draft)',
          'review_final': 'Post-incident review', 'public': 'Public version'}
# report_files.status -> (deliveries.status, progress): "locked" waits for Word.
STATES = {'pending': ('pending', {}), 'locked': ('pending', {'later': 'locked'}),
          'writing': ('sending', {}), 'written': ('delivered', {}),
          'failed': ('failed', {})}
MOVED = ('status', 'requested_at', 'pending_since', 'next_attempt_at', 'lease_until',
         'attempts', 'last_error')

deliveries = sa.table('deliveries', sa.column('id', sa.Integer),
                      sa.column('key', sa.String), sa.column('status', sa.String),
                      sa.column('payload', sa.JSON), sa.column('progress', sa.JSON),
                      sa.column('result', sa.JSON))


def upgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('requested_at', sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('pending_since', sa.DateTime(timezone=True),
                                      nullable=True))
    _move_work_to_the_outbox()
    with op.batch_alter_table('report_files', schema=None) as batch_op:
        batch_op.drop_index('ix_report_files_status_next')
        for column in MOVED:
            batch_op.drop_column(column)


def _move_work_to_the_outbox() -> None:
    """One delivery per report, in the state its row was in (the times copied as they
    are stored); a write claimed when the workers stopped is taken again once its lease
    has lapsed, and simply writes the file again."""
    bind = op.get_bind()
    empty = "'{}'::json" if bind.dialect.name == 'postgresql' else "'{}'"
    key = "i.reference || '/report/' || r.kind"
    # Built from the constants above only: no input reaches the SQL.
    op.execute(sa.text(
        "INSERT INTO deliveries (key, kind, incident_id, payload, progress, result, status,"  # noqa: S608
        " attempts, next_attempt_at, lease_until, last_error, created_at, updated_at,"
        " delivered_at, requested_at, pending_since)"
        f" SELECT {key}, :kind, r.incident_id, {empty}, {empty}, {empty}, r.status,"
        " r.attempts, r.next_attempt_at, r.lease_until, r.last_error, r.created_at,"
        " r.requested_at, r.written_at, r.requested_at, r.pending_since"
        " FROM report_files r JOIN incidents i ON i.id = r.incident_id"
        f" WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.key = {key})"
    ).bindparams(kind=KIND))
    rows = bind.execute(sa.text(
        "SELECT d.id, r.id AS report_id, r.kind, r.status FROM deliveries d"
        " JOIN incidents i ON i.id = d.incident_id"
        " JOIN report_files r ON r.incident_id = d.incident_id"
        "  AND d.key = i.reference || '/report/' || r.kind"
        " WHERE d.kind = :kind").bindparams(kind=KIND)).all()
    for row in rows:
        status, progress = STATES.get(row.status, ('pending', {}))
        bind.execute(deliveries.update().where(deliveries.c.id == row.id).values(
            status=status, progress=progress,
            payload={'report_id': row.report_id, 'as_app': True,
                     'label': LABELS.get(row.kind, row.kind)}))


def downgrade() -> None:
    with op.batch_alter_table('report_files', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=20), nullable=False,
                                      server_default='written'))
        batch_op.add_column(sa.Column('requested_at', sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('pending_since', sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('lease_until', sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('last_error', sa.Text(), nullable=True))
    back = {'pending': 'pending', 'sending': 'writing', 'delivered': 'written',
            'failed': 'failed', 'cancelled': 'written'}
    bind = op.get_bind()
    for row in bind.execute(sa.text(
            "SELECT d.id, d.status, d.progress, r.id AS report_id FROM deliveries d"
            " JOIN incidents i ON i.id = d.incident_id"
            " JOIN report_files r ON r.incident_id = d.incident_id"
            "  AND d.key = i.reference || '/report/' || r.kind"
            " WHERE d.kind = :kind").bindparams(kind=KIND)
            .columns(id=sa.Integer, status=sa.String, progress=sa.JSON,
                     report_id=sa.Integer)).all():
        status = back.get(row.status, 'pending')
        if status == 'pending' and (row.progress or {}).get('later') == 'locked':
            status = 'locked'
        bind.execute(sa.text(
            "UPDATE report_files SET status = :status, attempts = d.attempts,"
            " requested_at = d.requested_at, pending_since = d.pending_since,"
            " next_attempt_at = d.next_attempt_at, lease_until = d.lease_until,"
            " last_error = d.last_error FROM deliveries d"
            " WHERE d.id = :delivery AND report_files.id = :report"
        ).bindparams(status=status, delivery=row.id, report=row.report_id))
    op.execute(sa.text("UPDATE report_files SET requested_at = created_at"
                       " WHERE requested_at IS NULL"))
    op.execute(sa.text("UPDATE report_files SET next_attempt_at = created_at"
                       " WHERE next_attempt_at IS NULL"))
    op.execute(sa.text("DELETE FROM deliveries WHERE kind = :kind").bindparams(kind=KIND))
    with op.batch_alter_table('report_files', schema=None) as batch_op:
        batch_op.alter_column('requested_at', existing_type=sa.DateTime(timezone=True),
                              nullable=False)
        batch_op.alter_column('next_attempt_at', existing_type=sa.DateTime(timezone=True),
                              nullable=False)
        batch_op.alter_column('status', server_default=None,
                              existing_type=sa.String(length=20))
        batch_op.alter_column('attempts', server_default=None, existing_type=sa.Integer())
        batch_op.create_index('ix_report_files_status_next', ['status', 'next_attempt_at'],
                              unique=False)
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('pending_since')
        batch_op.drop_column('requested_at')
