"""Cookie policies: each site's cookie-policy page per language and format, written when it changes.

Revision ID: 9e4b2c71d6a3
Revises: 5c1e7a9b2d40
Create Date: 2026-11-23 12:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9e4b2c71d6a3'
down_revision = '5c1e7a9b2d40'
branch_labels = None
depends_on = None


def upgrade():
    # Empty at first: the public page is built on its first request, then whenever it changes.
    op.create_table('cookie_policies',
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('lang', sa.String(length=8), nullable=False),
    sa.Column('fmt', sa.String(length=16), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('scan_id', sa.Integer(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('etag', sa.String(length=80), nullable=False),
    sa.Column('built_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_cookie_policies_site_id_sites')),
    sa.PrimaryKeyConstraint('site_id', 'lang', 'fmt', name=op.f('pk_cookie_policies'))
    )


def downgrade():
    op.drop_table('cookie_policies')
