"""Outcome events: deaths and re-treatments, versioned like lab results (issue #6).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

The table of :class:`dashboard.store.schema.OutcomeEventRow`, written as ``alembic revision
--autogenerate`` writes it and reviewed: constraints named by the metadata's naming convention,
indexes created in batch mode (SQLite and PostgreSQL alike). ``cause`` is a code; there is no
free-text column.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outcome_events",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("cause", sa.String(length=40), nullable=True),
        sa.Column("row_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("entered_by", sa.Integer(), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("late_entry", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["entered_by"], ["users.user_id"], name=op.f("fk_outcome_events_entered_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.patient_id"],
            name=op.f("fk_outcome_events_patient_id_patients"),
        ),
        sa.PrimaryKeyConstraint("row_id", name=op.f("pk_outcome_events")),
        sa.UniqueConstraint("record_id", "version", name="uq_outcome_events_record_version"),
    )
    with op.batch_alter_table("outcome_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outcome_events_patient_time", ["patient_id", "occurred_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_outcome_events_record_id"), ["record_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("outcome_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outcome_events_record_id"))
        batch_op.drop_index("ix_outcome_events_patient_time")
    op.drop_table("outcome_events")
