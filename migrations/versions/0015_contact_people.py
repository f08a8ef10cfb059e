"""contacts merged by person: a list row id is no longer unique to a contact, and each
sync records how many people it read and which rows it skipped

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_contacts_item_id'), type_='unique')

    with op.batch_alter_table('contact_syncs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('people', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('skipped_rows', sa.JSON(), server_default='[]', nullable=False))

    # One address is one person from now on; the next sync merges their rows. Syncs
    # before this one counted every row as a person.
    op.execute("UPDATE contacts SET email = lower(email)")
    op.execute("UPDATE contact_syncs SET people = items")


def downgrade() -> None:
    with op.batch_alter_table('contact_syncs', schema=None) as batch_op:
        batch_op.drop_column('skipped_rows')
        batch_op.drop_column('people')

    # A sync that failed midway can leave two contacts naming one row: keep the oldest.
    op.execute("DELETE FROM contacts WHERE id NOT IN "
               "(SELECT MIN(id) FROM contacts GROUP BY item_id)")
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f('uq_contacts_item_id'), ['item_id'])
