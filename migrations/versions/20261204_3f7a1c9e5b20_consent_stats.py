"""Consent statistics: per site, UTC day, revision and language, kept up to date at seal time.

Revision ID: 3f7a1c9e5b20
Revises: 9e4b2c71d6a3
Create Date: 2026-12-04 12:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '3f7a1c9e5b20'
down_revision = '9e4b2c71d6a3'
branch_labels = None
depends_on = None


def upgrade():
    # Empty at first: `consent-server stats rebuild` fills it from the receipts already there.
    op.create_table('consent_stats_daily',
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('language', sa.String(length=35), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('method_accept_all', sa.Integer(), nullable=False),
    sa.Column('method_reject_all', sa.Integer(), nullable=False),
    sa.Column('method_custom', sa.Integer(), nullable=False),
    sa.Column('method_withdraw', sa.Integer(), nullable=False),
    sa.Column('method_gpc', sa.Integer(), nullable=False),
    sa.Column('gpc_signal', sa.Integer(), nullable=False),
    sa.Column('granted', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_consent_stats_daily_site_id_sites')),
    sa.PrimaryKeyConstraint('site_id', 'day', 'revision', 'language', name=op.f('pk_consent_stats_daily'))
    )


def downgrade():
    op.drop_table('consent_stats_daily')
