"""Reading a cohort for the researcher view: filters, access, and the raw frames (identified).

The frames here still carry study ids and dates; only :mod:`dashboard.services.cohort` turns them
into the de-identified view, and nothing here is shown as it is.

Access: only researchers and admins read a cohort (:func:`require_cohort_reader`); a researcher
reads the patients of their own sites, an admin every site. The tables are read with set-based
selects (one per table, filtered by the visible sites and ``status == "current"``), not through
``RecordRepository.current`` per patient, so the site check is enforced here, in
:func:`visible_sites`, and tested.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from dashboard.store.access import Actor, Role
from dashboard.store.alert_engine import GRADED_FIELDS
from dashboard.store.errors import AccessDeniedError
from dashboard.store.records import DRUGS, EVENTS, LABS
from dashboard.store.schema import (
    AssessmentRow,
    DrugAdministrationRow,
    LabResultRow,
    OutcomeEventRow,
    Patient,
)
from grading.records import Patient as PatientRecord

READERS = (Role.RESEARCHER, Role.ADMIN)
PATIENT_FIELDS = tuple(PatientRecord.model_fields)
#: patient_id, event, occurred_at, cause (:class:`grading.records.OutcomeEvent`).
EVENT_FIELDS = EVENTS.fields


def no_events() -> pd.DataFrame:
    """An empty events frame with its columns: "no death or re-treatment recorded"."""
    return pd.DataFrame(
        {
            "patient_id": pd.Series(dtype=object),
            "event": pd.Series(dtype=object),
            "occurred_at": pd.Series(dtype="datetime64[ns]"),
            "cause": pd.Series(dtype=object),
        }
    )[list(EVENT_FIELDS)]


class CohortFilters(BaseModel):
    """What the researcher asked for; ``None`` (or empty) means "no restriction"."""

    model_config = ConfigDict(frozen=True)

    site_ids: frozenset[str] = frozenset()
    diseases: frozenset[str] = frozenset()
    products: frozenset[str] = frozenset()
    infused_from: date | None = None  # inclusive, calendar day of the infusion
    infused_to: date | None = None  # inclusive


class CohortOptions(BaseModel):
    """The choices the filters offer this actor (their sites' values only; years, not dates)."""

    model_config = ConfigDict(frozen=True)

    site_ids: tuple[str, ...]
    diseases: tuple[str, ...]
    products: tuple[str, ...]
    first_year: int | None
    last_year: int | None


@dataclass(frozen=True)
class CohortData:
    """The selected patients and their current records, identified (never shown as is)."""

    patients: pd.DataFrame  # PATIENT_FIELDS
    assessments: pd.DataFrame  # GRADED_FIELDS
    drugs: pd.DataFrame  # DRUGS.fields
    labs: pd.DataFrame  # LABS.fields
    #: EVENT_FIELDS: deaths and re-treatments (current versions; a blank cause is "not recorded").
    #: Empty by default, so that frames built by hand without outcomes stay valid.
    events: pd.DataFrame = field(default_factory=no_events)


def require_cohort_reader(actor: Actor) -> None:
    if actor.role not in READERS:
        raise AccessDeniedError(
            f"{actor.username} ({actor.role.value}) cannot open the cohort view: researchers "
            "and administrators only"
        )


def visible_sites(actor: Actor, requested: Iterable[str] = ()) -> frozenset[str] | None:
    """The sites to read: the requested ones, each checked; None means every site (admin, no
    request). A request for a site the actor may not see is refused, never silently dropped."""
    require_cohort_reader(actor)
    wanted = frozenset(requested)
    for site_id in wanted:
        actor.require_site(site_id)
    if wanted:
        return wanted
    return None if actor.role is Role.ADMIN else actor.site_ids


def _patients_query(actor: Actor, filters: CohortFilters) -> Select[Any]:
    sites = visible_sites(actor, filters.site_ids)
    query = select(*(getattr(Patient, f) for f in PATIENT_FIELDS))
    if sites is not None:
        query = query.where(Patient.site_id.in_(sorted(sites)))
    if filters.diseases:
        query = query.where(Patient.disease.in_(sorted(filters.diseases)))
    if filters.products:
        query = query.where(Patient.product.in_(sorted(filters.products)))
    if filters.infused_from is not None:
        query = query.where(Patient.infusion_at >= datetime.combine(filters.infused_from, time()))
    if filters.infused_to is not None:
        end = datetime.combine(filters.infused_to + timedelta(days=1), time())
        query = query.where(Patient.infusion_at < end)
    return query.order_by(Patient.site_id, Patient.patient_id)


def _frame(session: Session, query: Select[Any], columns: Iterable[str]) -> pd.DataFrame:
    return pd.DataFrame.from_records(list(session.execute(query).all()), columns=list(columns))


def _records(
    session: Session, row: Any, fields: tuple[str, ...], ids: Select[Any], at: str
) -> pd.DataFrame:
    query = (
        select(*(getattr(row, f) for f in fields))
        .where(row.patient_id.in_(ids), row.status == "current")
        .order_by(row.patient_id, getattr(row, at), row.row_id)
    )
    return _frame(session, query, fields)


def patient_ids(session: Session, actor: Actor, filters: CohortFilters) -> list[str]:
    """The study ids the filters select among the actor's sites, in (site, id) order."""
    query = _patients_query(actor, filters).with_only_columns(Patient.patient_id)
    return [str(pid) for pid in session.execute(query).scalars()]


def load_patients(session: Session, actor: Actor, filters: CohortFilters) -> pd.DataFrame:
    """The filtered patients of the actor's sites (PATIENT_FIELDS), without their records."""
    return _frame(session, _patients_query(actor, filters), PATIENT_FIELDS)


def load_cohort(
    session: Session,
    actor: Actor,
    filters: CohortFilters,
    only: Sequence[str] | None = None,
) -> CohortData:
    """The filtered patients of the actor's sites and their current, not withdrawn, records;
    ``only`` further restricts them to these study ids (a chunk of an export)."""
    query = _patients_query(actor, filters)
    if only is not None:
        query = query.where(Patient.patient_id.in_(list(only)))
    patients = _frame(session, query, PATIENT_FIELDS)
    ids = query.with_only_columns(Patient.patient_id).order_by(None)
    return CohortData(
        patients=patients,
        assessments=_records(session, AssessmentRow, GRADED_FIELDS, ids, "observed_at"),
        drugs=_records(session, DrugAdministrationRow, DRUGS.fields, ids, "given_at"),
        labs=_records(session, LabResultRow, LABS.fields, ids, "collected_at"),
        events=_records(session, OutcomeEventRow, EVENT_FIELDS, ids, "occurred_at"),
    )


def cohort_options(session: Session, actor: Actor) -> CohortOptions:
    """The sites, diseases and products among the actor's patients, and the infusion years."""
    sites = visible_sites(actor)
    query = select(Patient.site_id, Patient.disease, Patient.product, Patient.infusion_at)
    if sites is not None:
        query = query.where(Patient.site_id.in_(sorted(sites)))
    rows = session.execute(query).all()
    years = [row.infusion_at.year for row in rows]
    own = sorted(sites) if sites is not None else []
    return CohortOptions(
        site_ids=tuple(sorted({row.site_id for row in rows} | set(own))),
        diseases=tuple(sorted({row.disease for row in rows})),
        products=tuple(sorted({row.product for row in rows})),
        first_year=min(years) if years else None,
        last_year=max(years) if years else None,
    )
