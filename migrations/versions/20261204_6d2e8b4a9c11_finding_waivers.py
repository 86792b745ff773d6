"""Finding waivers: audited acknowledgements and waivers of scan findings, and their revocations.

Revision ID: 6d2e8b4a9c11
Revises: 3f7a1c9e5b20
Create Date: 2026-12-04 12:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '6d2e8b4a9c11'
down_revision = '3f7a1c9e5b20'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('finding_waivers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revokes_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=300), nullable=False),
    sa.Column('token_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['revokes_id'], ['finding_waivers.id'], name=op.f('fk_finding_waivers_revokes_id_finding_waivers')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_finding_waivers_site_id_sites')),
    sa.ForeignKeyConstraint(['token_id'], ['api_tokens.id'], name=op.f('fk_finding_waivers_token_id_api_tokens')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_finding_waivers'))
    )
    op.create_index('ix_finding_waivers_site_fingerprint', 'finding_waivers', ['site_id', 'fingerprint'], unique=False)


def downgrade():
    op.drop_index('ix_finding_waivers_site_fingerprint', table_name='finding_waivers')
    op.drop_table('finding_waivers')
