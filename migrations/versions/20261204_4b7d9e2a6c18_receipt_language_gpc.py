"""Consent receipts: the record's language and GPC signal as columns, for the statistics.

Revision ID: 4b7d9e2a6c18
Revises: 8c5f3a7e2d94
Create Date: 2026-12-04 18:55:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '4b7d9e2a6c18'
down_revision = '8c5f3a7e2d94'
branch_labels = None
depends_on = None


def upgrade():
    # Nullable and not backfilled: a large log is not rewritten by an upgrade; the statistics
    # read older receipts' language and signal from their records, and sealed ones from the
    # daily aggregates anyway.
    with op.batch_alter_table('consent_receipts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=35), nullable=True))
        batch_op.add_column(sa.Column('gpc', sa.Boolean(), nullable=True))


def downgrade():
    with op.batch_alter_table('consent_receipts', schema=None) as batch_op:
        batch_op.drop_column('gpc')
        batch_op.drop_column('language')
