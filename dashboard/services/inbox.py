"""The physician alert inbox, without Streamlit: read, filter, acknowledge and resolve alerts.

Everything goes through :class:`dashboard.store.alerts.AlertRepository` inside one
:class:`UnitOfWork` per call, so the store's site and role checks apply: a physician sees the alerts
of their sites only, a nurse reads the inbox but the store refuses their acknowledgement. What this
module adds is presentation: rows sorted by severity then time (newest first), the evidence tag in
words, uncertainty stated plainly, and every store refusal returned as a message, never raised.

Acknowledging needs a non-blank note here (the store accepts a blank one): the note is the
physician's record of what they are doing about the alert.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine

from dashboard.store.access import Actor
from dashboard.store.alerts import HANDLERS, STATES, Alert, AlertRepository, Severity, State
from dashboard.store.errors import StoreError
from dashboard.store.unit_of_work import UnitOfWork

SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")
SEVERITY_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}
#: What each evidence tag means (criteria.md): shown beside every citation.
EVIDENCE_LABELS = {
    "C": "confirmed in the primary source",
    "S": "from a secondary source only",
    "U": "UNCONFIRMED: the source was not read or the value is a guess",
    "policy": "a site policy choice, not a published criterion",
}
UNCERTAIN_MARKS = ("[U", "DISAGREEMENT", "provisional", "not read", "unconfirmed")


class InboxRow(BaseModel):
    """One alert as the inbox shows it."""

    model_config = ConfigDict(frozen=True)

    alert_id: int
    patient_id: str
    site_id: str
    severity: Severity
    kind: str
    rule_id: str
    detail: str
    citation: str
    evidence: str
    evidence_label: str
    uncertain: bool  # [U] evidence, or the source or detail says it is provisional or disputed
    crs_grade: int | None  # CRS grade of the patient's latest assessment
    icans_grade: int | None
    finding_at: datetime
    raised_at: datetime
    state: State
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    acknowledge_note: str | None
    resolved_by: str | None
    resolved_at: datetime | None
    resolve_note: str | None

    @property
    def evidence_tag(self) -> str:
        return f"[{self.evidence}]"

    def table_row(self) -> dict[str, object]:
        """The compact row of the inbox table."""
        return {
            "Severity": self.severity,
            "Patient": self.patient_id,
            "Site": self.site_id,
            "Kind": self.kind.replace("_", " "),
            "Detail": self.detail,
            "Rule": self.rule_id,
            "CRS": grade_text(self.crs_grade),
            "ICANS": grade_text(self.icans_grade),
            "Finding at": f"{self.finding_at:%Y-%m-%d %H:%M}",
            "Evidence": self.evidence_tag,
            "State": self.state,
            "Acknowledged by": self.acknowledged_by or "",
        }


class InboxView(BaseModel):
    """The inbox after filtering, with what the filters can offer."""

    rows: list[InboxRow]
    total: int  # alerts in the chosen states before the severity, site and patient filters
    sites: list[str]  # sites among the alerts read
    patients: list[str]
    can_handle: bool  # may this actor acknowledge and resolve (the page offers the buttons)
    error: str | None = None


class ActionResult(BaseModel):
    ok: bool
    message: str
    alert: InboxRow | None = None


def grade_text(grade: int | None) -> str:
    return "—" if grade is None else str(grade)


def can_handle(actor: Actor) -> bool:
    """Whether the store lets this actor acknowledge and resolve alerts."""
    return actor.role in HANDLERS


def row_of(alert: Alert) -> InboxRow:
    text = f"{alert.citation} {alert.detail}"
    uncertain = alert.evidence == "U" or any(
        mark.lower() in text.lower() for mark in UNCERTAIN_MARKS
    )
    return InboxRow(
        **alert.model_dump(exclude={"crs_latest", "icans_latest"}),
        evidence_label=EVIDENCE_LABELS.get(alert.evidence, f"evidence tag {alert.evidence!r}"),
        uncertain=uncertain,
        crs_grade=alert.crs_latest,
        icans_grade=alert.icans_latest,
    )


def inbox_order(rows: Iterable[InboxRow]) -> list[InboxRow]:
    """Critical, warning, info; within a severity the newest finding first (then newest alert)."""
    newest_first = sorted(rows, key=lambda r: (r.finding_at, r.alert_id), reverse=True)
    return sorted(newest_first, key=lambda r: SEVERITY_RANK.get(r.severity, len(SEVERITIES)))


def load_inbox(
    engine: Engine,
    actor: Actor,
    states: Iterable[State] = ("open",),
    severities: Iterable[Severity] | None = None,
    site_ids: Iterable[str] | None = None,
    patient_id: str | None = None,
) -> InboxView:
    """The actor's alerts in ``states``, narrowed by severity, site and patient (None: all)."""
    wanted = tuple(state for state in STATES if state in set(states))
    try:
        with UnitOfWork(engine, actor) as uow:
            alerts = AlertRepository(uow.session, actor).inbox(wanted) if wanted else []
    except StoreError as error:
        return InboxView(rows=[], total=0, sites=[], patients=[], can_handle=False,
                         error=f"The inbox could not be read: {error}")  # fmt: skip
    rows = inbox_order(row_of(alert) for alert in alerts)
    sites = sorted({row.site_id for row in rows})
    patients = sorted({row.patient_id for row in rows})
    shown = filter_rows(rows, severities, site_ids, patient_id)
    return InboxView(rows=shown, total=len(rows), sites=sites, patients=patients,
                     can_handle=can_handle(actor))  # fmt: skip


def filter_rows(
    rows: Iterable[InboxRow],
    severities: Iterable[Severity] | None = None,
    site_ids: Iterable[str] | None = None,
    patient_id: str | None = None,
) -> list[InboxRow]:
    """The rows of these severities, sites and patient (None or blank: no restriction)."""
    keep_severity = set(SEVERITIES if severities is None else severities)
    keep_site = None if site_ids is None else set(site_ids)
    return [
        row
        for row in rows
        if row.severity in keep_severity
        and (keep_site is None or row.site_id in keep_site)
        and (not patient_id or row.patient_id == patient_id)
    ]


def acknowledge(engine: Engine, actor: Actor, alert_id: int, note: str) -> ActionResult:
    """Acknowledge with a note (required); the store's refusal comes back as the message."""
    if not note or not note.strip():
        return ActionResult(
            ok=False,
            message="Write a note before acknowledging: what you have seen and what you are "
            "doing about it.",
        )
    return _act(engine, actor, alert_id, note, "acknowledge")


def resolve(engine: Engine, actor: Actor, alert_id: int, note: str) -> ActionResult:
    """Resolve with a note (required by the store); a refusal comes back as the message."""
    if not note or not note.strip():
        return ActionResult(ok=False, message="Write a note before resolving: how it was resolved.")
    return _act(engine, actor, alert_id, note, "resolve")


def _act(engine: Engine, actor: Actor, alert_id: int, note: str, verb: str) -> ActionResult:
    try:
        with UnitOfWork(engine, actor) as uow:
            alerts = AlertRepository(uow.session, actor)
            done = alerts.acknowledge(alert_id, note) if verb == "acknowledge" else (
                alerts.resolve(alert_id, note))  # fmt: skip
            uow.commit()
    except StoreError as error:
        return ActionResult(ok=False, message=f"Not {verb}d: {error}")
    row = row_of(done)
    past = "acknowledged" if verb == "acknowledge" else "resolved"
    return ActionResult(
        ok=True,
        message=f"Alert {alert_id} ({row.patient_id}, {row.rule_id}) {past} by {actor.username}.",
        alert=row,
    )
