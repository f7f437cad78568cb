"""Video gaps: spans with no usable video from a vehicle (stream lost or damaged),
and an index to find segments by end time (retention).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "video_gaps",
        sa.Column(
            "gap_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("vehicle_id", sa.String(length=64), nullable=False),
        sa.Column("start_us", sa.BigInteger(), nullable=False),
        sa.Column("end_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("gap_id"),
    )
    op.create_index(
        "ix_video_gaps_vehicle_start", "video_gaps", ["vehicle_id", "start_us"], unique=False
    )
    op.create_index("ix_video_segments_end", "video_segments", ["end_us"], unique=False)


def downgrade() -> None:
    raise NotImplementedError("drone-ops migrations are forward-only: restore a backup instead")
