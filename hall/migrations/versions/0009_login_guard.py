"""login guard: failed sign-ins counted in the database, shared by every server process

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_guard',
                    sa.Column('key_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
                    sa.Column('failures', sa.Integer(), nullable=False),
                    sa.Column('first_ms', sa.BigInteger(), nullable=False),
                    sa.Column('locked_until_ms', sa.BigInteger(), nullable=True),
                    sa.PrimaryKeyConstraint('key_hash'))


def downgrade() -> None:
    op.drop_table('login_guard')
