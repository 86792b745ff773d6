"""Receipts: the banner's client nonce, unique per site and consent id.

Revision ID: 5c1e7a9b2d40
Revises: 8dfaa7b7a325
Create Date: 2026-11-23 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5c1e7a9b2d40'
down_revision = '8dfaa7b7a325'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('consent_receipts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_nonce', sa.String(length=36), nullable=True))
        batch_op.create_index(
            'uq_consent_receipts_site_consent_nonce',
            ['site_id', 'consent_id', 'client_nonce'],
            unique=True,
        )


def downgrade():
    with op.batch_alter_table('consent_receipts', schema=None) as batch_op:
        batch_op.drop_index('uq_consent_receipts_site_consent_nonce')
        batch_op.drop_column('client_nonce')
