"""Installation secrets: a random pseudonym key per database (issue #6).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

Before, with ``CARTWATCH_PSEUDONYM_KEY`` unset, the research exports keyed their pseudonyms and
date shifts with a hash of the first audit entry. That entry is predictable but for its time
stamp, so the key could be found by trying the microseconds around the database's creation
(a review showed it in seconds) and every pseudonym and date shift reversed. Now each database
gets 32 random bytes (:mod:`secrets`) at this upgrade, kept in ``installation_secrets`` and
never shown. A database upgraded from 0003 gets a new key: its pseudonyms change once (the
manifest's key id says which key an export used).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "installation_secrets",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_installation_secrets")),
    )
    op.bulk_insert(table, [{"name": "pseudonym_key", "value": secrets.token_hex(32)}])


def downgrade() -> None:
    op.drop_table("installation_secrets")
