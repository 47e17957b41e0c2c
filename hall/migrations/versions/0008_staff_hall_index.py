"""staff by hall: every hall-scoped query has an index led by hall_id

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_staff_hall_role', 'staff', ['hall_id', 'role'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_staff_hall_role', table_name='staff')
