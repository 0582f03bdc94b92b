"""Initial schema: the tables of dashboard/store/schema.py, exactly.

Revision ID: 0001
Revises: (none: the first revision)
Create Date: 2026-11-25

Written by ``alembic revision --autogenerate`` against an empty database and reviewed by hand:
foreign keys on one line, indexes created with ``op.create_index`` on the new tables (batch mode
is for altering existing tables on SQLite), the downgrade dropping children before the tables they
reference (a dropped table takes its indexes with it). Tables in dependency order: accounts and
sites, the audit chain, patients, then the clinical records and what is derived from them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("site_id"),
    )
    op.create_table(
        "users",
        sa.Column("user_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "memberships",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.site_id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.user_id"]),
        sa.PrimaryKeyConstraint("user_id", "site_id"),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("entity_id", sa.String(length=80), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("hash"),
    )
    op.create_table(
        "audit_head",
        sa.Column("head_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("head_id"),
    )
    op.create_table(
        "patients",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("disease", sa.String(length=40), nullable=False),
        sa.Column("product", sa.String(length=40), nullable=False),
        sa.Column("infusion_at", sa.DateTime(), nullable=False),
        sa.Column("lymphodepletion_start_at", sa.DateTime(), nullable=True),
        sa.Column("age_years", sa.Float(), nullable=True),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("sex", sa.String(length=40), nullable=True),
        sa.Column("weight_kg", sa.Float(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["users.user_id"]),
        sa.ForeignKeyConstraint(["site_id"], ["sites.site_id"]),
        sa.PrimaryKeyConstraint("patient_id"),
    )
    op.create_index(op.f("ix_patients_site_id"), "patients", ["site_id"])
    op.create_table(
        "assessments",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("observed_at", sa.DateTime(), nullable=False),
        sa.Column("age_years", sa.Float(), nullable=True),
        sa.Column("developmental_delay", sa.Boolean(), nullable=True),
        sa.Column("temperature_c", sa.Float(), nullable=True),
        sa.Column("antipyretic_or_anticytokine_given", sa.Boolean(), nullable=True),
        sa.Column("hypotension", sa.String(length=40), nullable=True),
        sa.Column("oxygen_device", sa.String(length=40), nullable=True),
        sa.Column("oxygen_l_min", sa.Float(), nullable=True),
        sa.Column("ice_score", sa.Integer(), nullable=True),
        sa.Column("ice_items", sa.JSON(), nullable=True),
        sa.Column("capd_score", sa.Integer(), nullable=True),
        sa.Column("capd_items", sa.JSON(), nullable=True),
        sa.Column("consciousness", sa.String(length=40), nullable=True),
        sa.Column("seizure", sa.String(length=40), nullable=True),
        sa.Column("motor_weakness", sa.String(length=40), nullable=True),
        sa.Column("cerebral_edema", sa.String(length=40), nullable=True),
        sa.Column("death_attributed_to", sa.String(length=40), nullable=True),
        sa.Column("heart_rate_bpm", sa.Float(), nullable=True),
        sa.Column("systolic_bp_mmhg", sa.Float(), nullable=True),
        sa.Column("diastolic_bp_mmhg", sa.Float(), nullable=True),
        sa.Column("spo2_pct", sa.Float(), nullable=True),
        sa.Column("respiratory_rate_min", sa.Float(), nullable=True),
        sa.Column("row_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("entered_by", sa.Integer(), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("late_entry", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["entered_by"], ["users.user_id"]),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.patient_id"]),
        sa.PrimaryKeyConstraint("row_id"),
        sa.UniqueConstraint("record_id", "version", name="uq_assessments_record_version"),
    )
    op.create_index("ix_assessments_patient_time", "assessments", ["patient_id", "observed_at"])
    op.create_index(op.f("ix_assessments_record_id"), "assessments", ["record_id"])
    op.create_table(
        "lab_results",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("collected_at", sa.DateTime(), nullable=False),
        sa.Column("analyte", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("loinc", sa.String(length=12), nullable=True),
        sa.Column("row_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("entered_by", sa.Integer(), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("late_entry", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["entered_by"], ["users.user_id"]),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.patient_id"]),
        sa.PrimaryKeyConstraint("row_id"),
        sa.UniqueConstraint("record_id", "version", name="uq_lab_results_record_version"),
    )
    op.create_index("ix_lab_results_patient_time", "lab_results", ["patient_id", "collected_at"])
    op.create_index(op.f("ix_lab_results_record_id"), "lab_results", ["record_id"])
    op.create_table(
        "drug_administrations",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("given_at", sa.DateTime(), nullable=False),
        sa.Column("drug", sa.String(length=40), nullable=False),
        sa.Column("dose", sa.Float(), nullable=True),
        sa.Column("dose_unit", sa.String(length=32), nullable=True),
        sa.Column("route", sa.String(length=40), nullable=True),
        sa.Column("row_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("entered_by", sa.Integer(), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("late_entry", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["entered_by"], ["users.user_id"]),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.patient_id"]),
        sa.PrimaryKeyConstraint("row_id"),
        sa.UniqueConstraint("record_id", "version", name="uq_drug_administrations_record_version"),
    )
    op.create_index(
        "ix_drug_administrations_patient_time", "drug_administrations", ["patient_id", "given_at"]
    )
    op.create_index(
        op.f("ix_drug_administrations_record_id"), "drug_administrations", ["record_id"]
    )
    op.create_table(
        "grades",
        sa.Column("assessment_row_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("crs_grade", sa.Integer(), nullable=True),
        sa.Column("crs_status", sa.String(length=16), nullable=False),
        sa.Column("crs_reason", sa.Text(), nullable=False),
        sa.Column("icans_grade", sa.Integer(), nullable=True),
        sa.Column("icans_status", sa.String(length=16), nullable=False),
        sa.Column("icans_reason", sa.Text(), nullable=False),
        sa.Column("masked", sa.Boolean(), nullable=False),
        sa.Column("flags", sa.String(length=200), nullable=False),
        sa.Column("graded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("policy", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(["assessment_row_id"], ["assessments.row_id"]),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.patient_id"]),
        sa.PrimaryKeyConstraint("assessment_row_id"),
    )
    op.create_index(op.f("ix_grades_patient_id"), "grades", ["patient_id"])
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dedup_key", sa.String(length=300), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("rule_id", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("citation", sa.Text(), nullable=False),
        sa.Column("evidence", sa.String(length=10), nullable=False),
        sa.Column("finding_at", sa.DateTime(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=14), nullable=False),
        sa.Column("acknowledged_by", sa.Integer(), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledge_note", sa.Text(), nullable=True),
        sa.Column("resolved_by", sa.Integer(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolve_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["acknowledged_by"], ["users.user_id"]),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.patient_id"]),
        sa.ForeignKeyConstraint(["resolved_by"], ["users.user_id"]),
        sa.PrimaryKeyConstraint("alert_id"),
        sa.UniqueConstraint("dedup_key"),
    )
    op.create_index(op.f("ix_alerts_patient_id"), "alerts", ["patient_id"])
    op.create_table(
        "drafts",
        sa.Column("draft_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("form", sa.String(length=40), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.patient_id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.user_id"]),
        sa.PrimaryKeyConstraint("draft_id"),
        sa.UniqueConstraint("user_id", "patient_id", "form", name="uq_drafts_owner"),
    )


def downgrade() -> None:
    # Children before the tables they reference; a dropped table takes its indexes with it.
    op.drop_table("drafts")
    op.drop_table("alerts")
    op.drop_table("grades")
    op.drop_table("drug_administrations")
    op.drop_table("lab_results")
    op.drop_table("assessments")
    op.drop_table("patients")
    op.drop_table("audit_head")
    op.drop_table("audit_log")
    op.drop_table("memberships")
    op.drop_table("users")
    op.drop_table("sites")
