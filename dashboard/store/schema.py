"""SQLAlchemy 2 models. Alembic migrations (dashboard/store/migrations) create exactly these; a test
checks there is no drift.

Clinical tables (assessments, lab_results, drug_administrations, outcome_events) are versioned:
a correction is a new row with the same ``record_id`` and the next ``version``; the old row
becomes ``superseded`` and stays readable. Nothing clinical is updated in place except that
status flag. A withdrawal is a new version with status ``withdrawn`` and a reason.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID = String(64)
CODE = String(40)


#: Named constraints, so that later migrations can alter them the same way on SQLite (batch mode)
#: and PostgreSQL (Alembic's recommended convention).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Site(Base):
    __tablename__ = "sites"

    site_id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class User(Base):
    __tablename__ = "users"

    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    role: Mapped[str] = mapped_column(String(20))  # nurse, physician, researcher, admin
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id
    #: The e-mail an OpenID Connect provider vouches for (``st.user.email``); None: local only.
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Membership(Base):
    __tablename__ = "memberships"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.user_id"), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.site_id"), primary_key=True)


class Patient(Base):
    __tablename__ = "patients"

    patient_id: Mapped[str] = mapped_column(ID, primary_key=True)  # pseudonymous study id
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.site_id"), index=True)
    disease: Mapped[str] = mapped_column(CODE)
    product: Mapped[str] = mapped_column(CODE)
    infusion_at: Mapped[datetime] = mapped_column(DateTime)
    lymphodepletion_start_at: Mapped[datetime | None] = mapped_column(DateTime)
    age_years: Mapped[float | None] = mapped_column(Float)
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    sex: Mapped[str | None] = mapped_column(CODE)
    weight_kg: Mapped[float | None] = mapped_column(Float)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.user_id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class _Versioned:
    """Columns every versioned clinical record carries."""

    row_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    record_id: Mapped[str] = mapped_column(String(36), index=True)  # stable across versions
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))  # current, superseded, withdrawn
    entered_by: Mapped[int] = mapped_column(ForeignKey("users.user_id"))
    entered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)  # required from version 2 on
    late_entry: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(40), default="form")  # form, import:<file hash>


class AssessmentRow(_Versioned, Base):
    __tablename__ = "assessments"
    __table_args__ = (
        UniqueConstraint("record_id", "version", name="uq_assessments_record_version"),
        Index("ix_assessments_patient_time", "patient_id", "observed_at"),
    )

    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.patient_id"))
    observed_at: Mapped[datetime] = mapped_column(DateTime)
    age_years: Mapped[float | None] = mapped_column(Float)
    developmental_delay: Mapped[bool | None] = mapped_column(Boolean)
    temperature_c: Mapped[float | None] = mapped_column(Float)
    antipyretic_or_anticytokine_given: Mapped[bool | None] = mapped_column(Boolean)
    hypotension: Mapped[str | None] = mapped_column(CODE)
    oxygen_device: Mapped[str | None] = mapped_column(CODE)
    oxygen_l_min: Mapped[float | None] = mapped_column(Float)
    ice_score: Mapped[int | None] = mapped_column(Integer)
    ice_items: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    capd_score: Mapped[int | None] = mapped_column(Integer)
    capd_items: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    consciousness: Mapped[str | None] = mapped_column(CODE)
    seizure: Mapped[str | None] = mapped_column(CODE)
    motor_weakness: Mapped[str | None] = mapped_column(CODE)
    cerebral_edema: Mapped[str | None] = mapped_column(CODE)
    death_attributed_to: Mapped[str | None] = mapped_column(CODE)
    heart_rate_bpm: Mapped[float | None] = mapped_column(Float)
    systolic_bp_mmhg: Mapped[float | None] = mapped_column(Float)
    diastolic_bp_mmhg: Mapped[float | None] = mapped_column(Float)
    spo2_pct: Mapped[float | None] = mapped_column(Float)
    respiratory_rate_min: Mapped[float | None] = mapped_column(Float)


class LabResultRow(_Versioned, Base):
    __tablename__ = "lab_results"
    __table_args__ = (
        UniqueConstraint("record_id", "version", name="uq_lab_results_record_version"),
        Index("ix_lab_results_patient_time", "patient_id", "collected_at"),
    )

    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.patient_id"))
    collected_at: Mapped[datetime] = mapped_column(DateTime)
    analyte: Mapped[str] = mapped_column(CODE)
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(32))
    loinc: Mapped[str | None] = mapped_column(String(12))


class DrugAdministrationRow(_Versioned, Base):
    __tablename__ = "drug_administrations"
    __table_args__ = (
        UniqueConstraint("record_id", "version", name="uq_drug_administrations_record_version"),
        Index("ix_drug_administrations_patient_time", "patient_id", "given_at"),
    )

    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.patient_id"))
    given_at: Mapped[datetime] = mapped_column(DateTime)
    drug: Mapped[str] = mapped_column(CODE)
    dose: Mapped[float | None] = mapped_column(Float)
    dose_unit: Mapped[str | None] = mapped_column(String(32))
    route: Mapped[str | None] = mapped_column(CODE)


class OutcomeEventRow(_Versioned, Base):
    """A death or a re-treatment (:class:`grading.records.OutcomeEvent`): the competing events of
    the research exports. ``cause`` is a code from a closed list; there is no free-text column."""

    __tablename__ = "outcome_events"
    __table_args__ = (
        UniqueConstraint("record_id", "version", name="uq_outcome_events_record_version"),
        Index("ix_outcome_events_patient_time", "patient_id", "occurred_at"),
    )

    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.patient_id"))
    event: Mapped[str] = mapped_column(CODE)
    occurred_at: Mapped[datetime] = mapped_column(DateTime)
    cause: Mapped[str | None] = mapped_column(CODE)


class GradeRow(Base):
    """Derived grades of the current assessment versions (recomputed after every write)."""

    __tablename__ = "grades"

    assessment_row_id: Mapped[int] = mapped_column(
        ForeignKey("assessments.row_id"), primary_key=True
    )
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.patient_id"), index=True)
    crs_grade: Mapped[int | None] = mapped_column(Integer)
    crs_status: Mapped[str] = mapped_column(String(16))
    crs_reason: Mapped[str] = mapped_column(Text)
    icans_grade: Mapped[int | None] = mapped_column(Integer)
    icans_status: Mapped[str] = mapped_column(String(16))
    icans_reason: Mapped[str] = mapped_column(Text)
    masked: Mapped[bool] = mapped_column(Boolean)
    flags: Mapped[str] = mapped_column(String(200))
    graded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    policy: Mapped[str] = mapped_column(String(80))


class AlertRow(Base):
    __tablename__ = "alerts"

    alert_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dedup_key: Mapped[str] = mapped_column(String(300), unique=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.patient_id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(10))
    rule_id: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text)
    citation: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str] = mapped_column(String(10))
    finding_at: Mapped[datetime] = mapped_column(DateTime)
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(14), default="open")  # open, acknowledged, resolved
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("users.user_id"))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledge_note: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("users.user_id"))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolve_note: Mapped[str | None] = mapped_column(Text)


class SignoffRow(Base):
    """A physician's sign-off of one patient's grades for one study day.

    ``grades`` keeps the grades exactly as they were signed (a snapshot), so a later correction,
    which re-grades the day, is shown beside what was signed instead of replacing it silently.
    """

    __tablename__ = "signoffs"
    __table_args__ = (UniqueConstraint("patient_id", "study_day", name="uq_signoffs_patient_day"),)

    signoff_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.patient_id"))
    study_day: Mapped[int] = mapped_column(Integer)
    signed_by: Mapped[int] = mapped_column(ForeignKey("users.user_id"))
    signed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)
    grades: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class DraftRow(Base):
    """A form being typed, kept on the server so a dropped connection loses nothing."""

    __tablename__ = "drafts"
    __table_args__ = (UniqueConstraint("user_id", "patient_id", "form", name="uq_drafts_owner"),)

    draft_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.user_id"))
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.patient_id"))
    form: Mapped[str] = mapped_column(String(40))
    values: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """Append-only; each entry carries the hash of the previous one (tamper evidence)."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # 1, 2, 3
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(40))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(80))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """One row: the last sequence number and hash. Locking it serialises appends to the chain."""

    __tablename__ = "audit_head"

    head_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class InstallationSecret(Base):
    """Secrets this database was created with (issue #6): ``pseudonym_key``, 32 random bytes as
    hex, written once by migration 0004 and never shown, so the research exports' pseudonyms and
    date shifts cannot be recomputed from anything a researcher sees. Read by
    :func:`dashboard.services.deidentify.pseudonym_key` when ``CARTWATCH_PSEUDONYM_KEY`` is unset."""

    __tablename__ = "installation_secrets"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
