"""audit outcome: refused actions are audited too

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit') as batch:
        batch.add_column(sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False,
                                   server_default='ok'))


def downgrade() -> None:
    with op.batch_alter_table('audit') as batch:
        batch.drop_column('outcome')
