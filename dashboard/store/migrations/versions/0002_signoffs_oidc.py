"""Sign-off of a day's grades (issue #5) and the OpenID Connect e-mail of a user.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

The users column is added in batch mode (SQLite rebuilds the table; PostgreSQL alters it), with its
unique constraint named by the metadata's naming convention.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signoffs",
        sa.Column("signoff_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("study_day", sa.Integer(), nullable=False),
        sa.Column("signed_by", sa.Integer(), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("grades", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.patient_id"],
            name=op.f("fk_signoffs_patient_id_patients"),
        ),
        sa.ForeignKeyConstraint(
            ["signed_by"], ["users.user_id"], name=op.f("fk_signoffs_signed_by_users")
        ),
        sa.PrimaryKeyConstraint("signoff_id", name=op.f("pk_signoffs")),
        sa.UniqueConstraint("patient_id", "study_day", name="uq_signoffs_patient_day"),
    )
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email", sa.String(length=254), nullable=True))
        batch.create_unique_constraint(batch.f("uq_users_email"), ["email"])


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(batch.f("uq_users_email"), type_="unique")
        batch.drop_column("email")
    op.drop_table("signoffs")
