"""Site revisions: who applied each one (a token, the CLI, a console user).

Revision ID: 8c5f3a7e2d94
Revises: 6d2e8b4a9c11
Create Date: 2026-12-04 12:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8c5f3a7e2d94'
down_revision = '6d2e8b4a9c11'
branch_labels = None
depends_on = None


def upgrade():
    # Nullable: revisions applied before this was recorded have no known author.
    with op.batch_alter_table('site_revisions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('applied_by', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('site_revisions', schema=None) as batch_op:
        batch_op.drop_column('applied_by')
