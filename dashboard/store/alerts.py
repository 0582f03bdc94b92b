"""Alerts as people see and handle them: the inbox, a patient's alerts, acknowledge and resolve.

The alert engine (:mod:`dashboard.store.alert_engine`) raises alerts; this repository shows them to
the acting user and records what clinicians do with them. Every call checks the patient's site.

Who may do what (decided for issue #4):

- Read: everyone with access to the patient's site (admins: every site). Nurses see the inbox so
  that they can call the physician; researchers see it read-only.
- Acknowledge ("I have seen this and am acting on it") and resolve: physicians of the site and
  admins. Nurses may not: acknowledging is the physician's sign-off that decision support was
  reviewed, and a nurse acknowledging would take a critical alert out of the physician's inbox.
  Researchers never change alerts.
- A resolved alert cannot be acknowledged or resolved again, and an acknowledged one is not
  acknowledged twice (the first physician's note is not overwritten); each refusal says why. An
  alert the engine reopens (its finding came back) is open again and can be acknowledged anew.

Every state change is audited with who, when and the note, and is also kept on the alert.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Row, Select, case, func, select
from sqlalchemy.orm import Session

from dashboard.store import audit
from dashboard.store.access import Actor, Role
from dashboard.store.alert_engine import queue_behind_writers
from dashboard.store.errors import (
    AccessDeniedError,
    NotFoundError,
    ReasonRequiredError,
    StoreError,
)
from dashboard.store.schema import AlertRow, AssessmentRow, GradeRow, Patient, User

State = Literal["open", "acknowledged", "resolved"]
Severity = Literal["critical", "warning", "info"]
STATES: tuple[State, ...] = ("open", "acknowledged", "resolved")
#: Who may acknowledge and resolve alerts (see the module docstring).
HANDLERS = frozenset({Role.PHYSICIAN, Role.ADMIN})
SYSTEM_NAME = "system"
#: An alert with its patient's site and current CRS and ICANS grades (of the latest assessment).
InboxRow = Row[AlertRow, str, int | None, int | None]


class AlertStateError(StoreError):
    """The alert's state does not allow the change (for example acknowledging a resolved alert)."""


class Alert(BaseModel):
    """One alert with the patient's current CRS and ICANS grades (of the latest assessment), for the inbox."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alert_id: int
    patient_id: str
    site_id: str
    kind: str
    severity: Severity
    rule_id: str
    detail: str
    citation: str
    evidence: str
    finding_at: datetime
    raised_at: datetime
    state: State
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    acknowledge_note: str | None
    resolved_by: str | None  # "system" when the engine resolved it
    resolved_at: datetime | None
    resolve_note: str | None
    crs_latest: int | None  # CRS grade of the patient's latest assessment (None: not gradable)
    icans_latest: int | None


class AlertRepository:
    """Alerts of the patients the acting user may see."""

    def __init__(self, session: Session, actor: Actor) -> None:
        self.session, self.actor = session, actor

    # -- reading -------------------------------------------------------------------------------
    def inbox(self, states: Iterable[State] = ("open",)) -> list[Alert]:
        """Alerts across the actor's sites (admins: all), critical first, newest finding first."""
        query = self._query(states)
        if self.actor.role is not Role.ADMIN:
            query = query.where(Patient.site_id.in_(self.actor.site_ids))
        return self._models(self.session.execute(query).all())

    def for_patient(self, patient_id: str, states: Iterable[State] = STATES) -> list[Alert]:
        """One patient's alerts (every state unless told), in inbox order."""
        patient = self.session.get(Patient, patient_id)
        if patient is None:
            raise NotFoundError(f"no patient {patient_id}")
        self.actor.require_site(patient.site_id)
        query = self._query(states).where(AlertRow.patient_id == patient_id)
        return self._models(self.session.execute(query).all())

    def get(self, alert_id: int) -> Alert:
        alert = self._row(alert_id, lock=False)
        return self._one(alert.alert_id)

    # -- handling ------------------------------------------------------------------------------
    def acknowledge(self, alert_id: int, note: str) -> Alert:
        """Seen and being acted on. Physicians of the site and admins only; ``note`` may be blank."""
        alert = self._handle(alert_id, "acknowledge")
        if alert.state == "resolved":
            raise AlertStateError(
                f"alert {alert_id} was resolved {self._resolution(alert)}; a resolved alert "
                "cannot be acknowledged. A new finding (a higher grade, a later assessment) raises "
                "a new alert."
            )
        if alert.state == "acknowledged":
            who = self._username(alert.acknowledged_by)
            raise AlertStateError(
                f"alert {alert_id} was already acknowledged by {who} at "
                f"{_when(alert.acknowledged_at)}; their note is kept. Resolve it, or add to the "
                "patient's record instead."
            )
        now = datetime.now(UTC)
        alert.state, alert.acknowledged_by = "acknowledged", self.actor.user_id or None
        alert.acknowledged_at, alert.acknowledge_note = now, note.strip() or None
        self._audit("acknowledge", alert, alert.acknowledge_note, now)
        return self._one(alert_id)

    def resolve(self, alert_id: int, note: str) -> Alert:
        """Dealt with. Physicians of the site and admins only; the note (why) is required."""
        if not note or not note.strip():
            raise ReasonRequiredError("resolving an alert needs a note saying how it was resolved")
        alert = self._handle(alert_id, "resolve")
        if alert.state == "resolved":
            raise AlertStateError(
                f"alert {alert_id} is already resolved {self._resolution(alert)}; nothing changed."
            )
        now = datetime.now(UTC)
        alert.state, alert.resolved_by = "resolved", self.actor.user_id or None
        alert.resolved_at, alert.resolve_note = now, note.strip()
        self._audit("resolve", alert, alert.resolve_note, now)
        return self._one(alert_id)

    # -- helpers -------------------------------------------------------------------------------
    def _handle(self, alert_id: int, verb: str) -> AlertRow:
        """The alert, locked (behind any writer, see queue_behind_writers), after the site and role
        checks."""
        unlocked = self._row(alert_id, lock=False)
        queue_behind_writers(self.session, [unlocked.patient_id])  # the patient, then the alert
        alert = self._row(alert_id, lock=True)
        if self.actor.role not in HANDLERS:
            raise AccessDeniedError(
                f"{self.actor.username} ({self.actor.role.value}) cannot {verb} alerts: only the "
                "site's physicians and administrators can"
            )
        return alert

    def _row(self, alert_id: int, *, lock: bool) -> AlertRow:
        alert = self.session.get(
            AlertRow, alert_id, with_for_update=lock or None, populate_existing=lock
        )
        if alert is None:
            raise NotFoundError(f"no alert {alert_id}")
        patient = self.session.get(Patient, alert.patient_id)
        self.actor.require_site(patient.site_id if patient else "")
        return alert

    def _audit(self, action: str, alert: AlertRow, note: str | None, now: datetime) -> None:
        audit.append(self.session, self.actor.username, action, "alert", str(alert.alert_id),
                     {"patient_id": alert.patient_id, "kind": alert.kind,
                      "rule_id": alert.rule_id, "state": alert.state, "note": note,
                      "at": now.isoformat()})  # fmt: skip
        self.session.flush()

    def _resolution(self, alert: AlertRow) -> str:
        who = self._username(alert.resolved_by) if alert.resolved_by else SYSTEM_NAME
        return f"by {who} at {_when(alert.resolved_at)} ({alert.resolve_note or 'no note'})"

    def _username(self, user_id: int | None) -> str:
        user = self.session.get(User, user_id) if user_id else None
        return user.username if user else SYSTEM_NAME

    def _query(self, states: Iterable[State]) -> Select[AlertRow, str, int | None, int | None]:
        wanted = tuple(states)
        unknown = set(wanted) - set(STATES)
        if unknown:
            raise ValueError(f"unknown alert states {sorted(unknown)}; use {', '.join(STATES)}")
        ranked = (
            select(
                GradeRow.patient_id,
                GradeRow.crs_grade,
                GradeRow.icans_grade,
                func.row_number()
                .over(
                    partition_by=GradeRow.patient_id,
                    order_by=(AssessmentRow.observed_at.desc(), AssessmentRow.row_id.desc()),
                )
                .label("newest"),
            )
            .join(AssessmentRow, AssessmentRow.row_id == GradeRow.assessment_row_id)
            .subquery()
        )
        latest = (
            select(ranked.c.patient_id, ranked.c.crs_grade.label("crs_latest"),
                   ranked.c.icans_grade.label("icans_latest"))
            .where(ranked.c.newest == 1)
            .subquery()
        )  # fmt: skip
        rank = case((AlertRow.severity == "critical", 0), (AlertRow.severity == "warning", 1),
                    else_=2)  # fmt: skip
        return (
            select(AlertRow, Patient.site_id, latest.c.crs_latest, latest.c.icans_latest)
            .join(Patient, Patient.patient_id == AlertRow.patient_id)
            .outerjoin(latest, latest.c.patient_id == AlertRow.patient_id)
            .where(AlertRow.state.in_(wanted))
            .order_by(rank, AlertRow.finding_at.desc(), AlertRow.alert_id.desc())
        )

    def _one(self, alert_id: int) -> Alert:
        query = self._query(STATES).where(AlertRow.alert_id == alert_id)
        return self._models(self.session.execute(query).all())[0]

    def _models(self, rows: Sequence[InboxRow]) -> list[Alert]:
        ids = {uid for row in rows for uid in (row[0].acknowledged_by, row[0].resolved_by) if uid}
        names: dict[int, str] = {}
        if ids:
            names = dict(
                self.session.execute(
                    select(User.user_id, User.username).where(User.user_id.in_(ids))
                ).all()
            )
        return [_model(row, names) for row in rows]


def _model(row: InboxRow, names: dict[int, str]) -> Alert:
    """Read back through the model (the database-read edge): an unknown state or severity raises."""
    alert, site_id, crs_latest, icans_latest = row
    columns = {name: getattr(alert, name) for name in Alert.model_fields if hasattr(alert, name)}
    columns["acknowledged_by"] = (
        names.get(alert.acknowledged_by or 0, SYSTEM_NAME) if alert.acknowledged_at else None
    )
    columns["resolved_by"] = (
        names.get(alert.resolved_by or 0, SYSTEM_NAME) if alert.resolved_at else None
    )
    return Alert.model_validate(
        {**columns, "site_id": site_id, "crs_latest": crs_latest, "icans_latest": icans_latest}
    )


def _when(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M}" if at else "an unknown time"
