"""The de-identified research tables of a cohort, read and graded in chunks of patients.

Every research export (tidy files, SDTM, registry fields, FHIR) starts here: :func:`export_chunks`
yields :class:`ExportChunk` s of at most ``chunk_patients`` patients, each holding the tables of
:data:`TABLES`, already de-identified (:mod:`dashboard.services.deidentify`):

- the study id is replaced by its pseudonym; site names, user names, dates of birth, free text
  (correction reasons, grade reasons, alert details and notes) never leave;
- every time is given as a **study day** (``<name>_day``: fractional days since the infusion
  instant, rounded to 0.01 day; the infusion is day 0.0). With ``dates="shifted"`` each time is
  also given as a **shifted date-time** (``<name>_at``): the true time moved back by a whole
  number of days, 1 to 364, fixed per patient (HMAC of the study id under the pseudonym key), as
  REDCap's date shifting does. Times of day and intervals are kept; calendar dates are not.

Grades are recomputed with the site policy (:func:`grading.course.grade_course`), as the cohort
view does, so an export and the page agree. Chunks bound the memory: one chunk's raw records and
course are alive at a time, whatever the cohort's size (measured in ``benchmarks/bench_export.py``).

Access: researchers and administrators only; a researcher reads the patients of their own sites
(:func:`dashboard.services.cohort_data.visible_sites`).
"""

from __future__ import annotations

import hashlib
import hmac
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from dashboard.services.cohort_data import (
    PATIENT_FIELDS,
    CohortData,
    CohortFilters,
    load_cohort,
    patient_ids,
    require_cohort_reader,
    visible_sites,
)
from dashboard.services.deidentify import (
    PseudonymKey,
    manifest,
    pseudonym_key,
    pseudonyms,
    top_code_ages,
)
from dashboard.store.access import Actor
from dashboard.store.schema import AlertRow
from dashboard.store.unit_of_work import UnitOfWork
from grading.course import MASKING, Course, grade_course
from grading.policy_asco_2021 import ASCO_2021

Progress = Callable[[int, int], None]


class DateMode(StrEnum):
    """How times leave: study day only, or study day and a per-patient shifted date-time."""

    STUDY_DAY = "study_day"
    SHIFTED = "shifted"


class ExportRequest(BaseModel):
    """Which patients, how dates leave, and how many patients are read at once."""

    model_config = ConfigDict(frozen=True)

    filters: CohortFilters = CohortFilters()
    dates: DateMode = DateMode.STUDY_DAY
    chunk_patients: int = Field(250, ge=1, le=10_000)


#: Each table's columns without the time columns, and its time columns (``<name>_day`` always,
#: ``<name>_at`` with shifted dates), in output order: key, times, values.
_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "patients": (
        ("pseudonym", "site_id"),
        ("infusion", "lymphodepletion_start"),
        ("disease", "product", "age_years", "sex", "weight_kg"),
    ),
    "assessments": (
        ("pseudonym",),
        ("observed",),
        (
            "temperature_c",
            "hypotension",
            "oxygen_device",
            "oxygen_l_min",
            "ice_score",
            "capd_score",
            "consciousness",
            "seizure",
            "motor_weakness",
            "cerebral_edema",
            "death_attributed_to",
            "heart_rate_bpm",
            "systolic_bp_mmhg",
            "diastolic_bp_mmhg",
            "spo2_pct",
            "respiratory_rate_min",
            "developmental_delay",
            "fever_masked",
            "crs_grade",
            "crs_status",
            "icans_grade",
            "icans_status",
            "tocilizumab_indicated",
            "steroids_indicated",
            "icu_indicated",
            "crs_episode",
            "icans_episode",
            "study_day",
        ),
    ),
    "episodes": (
        ("pseudonym", "syndrome", "episode"),
        ("onset", "peak", "resolved"),
        (
            "onset_study_day",
            "peak_grade",
            "status",
            "duration_days",
            "tocilizumab_doses",
            "steroid_dexamethasone_mg",
            "steroid_doses_not_counted",
        ),
    ),
    "labs": (("pseudonym",), ("collected",), ("analyte", "value", "unit", "loinc")),
    "drugs": (("pseudonym",), ("given",), ("drug", "dose", "dose_unit", "route")),
    "alerts": (
        ("pseudonym", "kind"),
        ("finding",),  # not when raised: that is the server's clock (see _alerts)
        ("severity", "rule_id", "evidence", "citation", "state"),
    ),
    "events": (("pseudonym", "event"), ("occurred",), ("cause",)),
}
TABLES = tuple(_KEYS)


#: Dose units exported as entered (the form's units, the sample's and common ones); any other
#: text is exported as :data:`OTHER_UNIT`.
DOSE_UNITS = frozenset({"mg", "mg/kg", "mg/m2", "g", "g/kg", "mcg", "mcg/kg", "mcg/kg/min",
                        "mcg/min", "units", "units/min", "units/kg", "IU", "mL", "mL/h", "mg/h"})  # fmt: skip
OTHER_UNIT = "other"


def columns(table: str, dates: DateMode = DateMode.STUDY_DAY) -> tuple[str, ...]:
    """The columns of ``table`` in this date mode, in output order."""
    keys, times, values = _KEYS[table]
    timed = [f"{t}_day" for t in times]
    if dates is DateMode.SHIFTED:
        timed += [f"{t}_at" for t in times]
    return (*keys, *timed, *values)


#: A label for every column of every table (SAS, SPSS and Stata variable labels; SDTM origin).
LABELS: dict[str, str] = {
    "pseudonym": "Patient pseudonym (keyed HMAC of the study id)",
    "site_id": "Site identifier",
    "disease": "Autoimmune disease",
    "product": "CAR T product",
    "age_years": "Age at infusion (years)",
    "sex": "Sex",
    "weight_kg": "Weight (kg)",
    "temperature_c": "Temperature (C)",
    "hypotension": "Hypotension (none, fluids, one or more vasopressors)",
    "oxygen_device": "Oxygen device",
    "oxygen_l_min": "Oxygen flow (L/min)",
    "ice_score": "ICE score (0-10)",
    "capd_score": "CAPD score (0-32)",
    "consciousness": "Depressed level of consciousness",
    "seizure": "Seizure",
    "motor_weakness": "Motor weakness",
    "cerebral_edema": "Cerebral edema",
    "death_attributed_to": "Death attributed to (CRS, ICANS)",
    "heart_rate_bpm": "Heart rate (beats/min)",
    "systolic_bp_mmhg": "Systolic blood pressure (mmHg)",
    "diastolic_bp_mmhg": "Diastolic blood pressure (mmHg)",
    "spo2_pct": "Oxygen saturation (%)",
    "respiratory_rate_min": "Respiratory rate (breaths/min)",
    "developmental_delay": "Developmental delay (CAPD instead of ICE)",
    "fever_masked": "Fever masked by antipyretic or anti-cytokine therapy",
    "crs_grade": "ASTCT 2019 CRS grade (blank: not assessed)",
    "crs_status": "CRS grading status",
    "icans_grade": "ASTCT 2019 ICANS grade (blank: not assessed)",
    "icans_status": "ICANS grading status",
    "tocilizumab_indicated": "Tocilizumab escalation flag (site policy)",
    "steroids_indicated": "Corticosteroid escalation flag (site policy)",
    "icu_indicated": "ICU escalation flag (site policy)",
    "crs_episode": "CRS episode number",
    "icans_episode": "ICANS episode number",
    "study_day": "Study day (calendar days since the infusion day)",
    "syndrome": "Syndrome (CRS, ICANS)",
    "episode": "Episode number within the syndrome",
    "onset_study_day": "Onset study day (calendar)",
    "peak_grade": "Highest ASTCT grade in the episode",
    "status": "Episode status (resolved, ongoing)",
    "duration_days": "Episode duration (days)",
    "tocilizumab_doses": "Tocilizumab doses in the episode",
    "steroid_dexamethasone_mg": "Corticosteroids in the episode (dexamethasone-equivalent mg)",
    "steroid_doses_not_counted": "Corticosteroid doses without a dexamethasone equivalent",
    "analyte": "Laboratory analyte",
    "value": "Result value",
    "unit": "Result unit (UCUM)",
    "loinc": "LOINC code",
    "drug": "Drug",
    "dose": "Dose",
    "dose_unit": "Dose unit",
    "route": "Route",
    "kind": "Alert kind",
    "severity": "Alert severity",
    "rule_id": "Rule that raised the alert",
    "evidence": "Evidence level of the rule (C, S, U)",
    "citation": "Source of the rule",
    "state": "Alert state (open, acknowledged, resolved)",
    "event": "Outcome event (death, retreatment)",
    "cause": "Cause of death (blank: not recorded)",
}
_TIME_LABELS = {
    "infusion": "CAR T infusion",
    "lymphodepletion_start": "Start of lymphodepletion",
    "observed": "Assessment time",
    "onset": "Episode onset",
    "peak": "Time of the highest grade",
    "resolved": "Episode resolution",
    "collected": "Sample collection",
    "given": "Administration",
    "finding": "Time of the finding",
    "occurred": "Time of the event",
}
for _name, _what in _TIME_LABELS.items():
    LABELS[f"{_name}_day"] = f"{_what}: study day (days since the infusion)"
    LABELS[f"{_name}_at"] = f"{_what}: shifted date-time (per-patient offset)"


@dataclass(frozen=True)
class ExportChunk:
    """The de-identified tables of one chunk of patients (name → frame, columns of :func:`columns`)."""

    tables: dict[str, pd.DataFrame]
    patients: int


def date_shift(patient_id: str, key: PseudonymKey) -> timedelta:
    """The patient's fixed date shift: back by 1 to 364 whole days (keyed, so not guessable)."""
    digest = hmac.new(key.secret, b"date-shift:" + patient_id.encode("utf-8"), hashlib.sha256)
    return -timedelta(days=1 + int.from_bytes(digest.digest()[:4], "big") % 364)


def export_manifest(key: PseudonymKey, request: ExportRequest) -> dict[str, str]:
    """What every file of this export removed and how (the de-identification manifest)."""
    filters = request.filters
    chosen = {
        "sites": ", ".join(sorted(filters.site_ids)) or "all visible",
        "diseases": ", ".join(sorted(filters.diseases)) or "all",
        "products": ", ".join(sorted(filters.products)) or "all",
        "infusion dates": "restricted" if filters.infused_from or filters.infused_to else "all",
    }
    entries = manifest(key, filters="; ".join(f"{k}: {v}" for k, v in chosen.items()))
    if request.dates is DateMode.SHIFTED:
        entries["removed: dates and times"] = (
            "shifted back by a whole number of days (1-364) fixed per patient (keyed HMAC), "
            "times of day and intervals kept; study days given too"
        )
    entries["removed: free text"] += (
        f"; alert details and notes; a dose unit not in the known list exported as {OTHER_UNIT!r}"
    )
    entries["removed: alert raised time"] = (
        "dropped (the server's clock when the alert was stored); the finding's time is kept"
    )
    entries["grading policy"] = ASCO_2021.name
    return entries


def count_patients(engine: Engine, actor: Actor, request: ExportRequest) -> int:
    """How many patients the request selects (for a progress bar)."""
    return len(_patient_ids(engine, actor, request))


def export_chunks(
    engine: Engine, actor: Actor, request: ExportRequest, progress: Progress | None = None
) -> Iterator[ExportChunk]:
    """The de-identified tables, chunk by chunk; ``progress(done, total)`` after each chunk.

    AccessDeniedError (before anything is read) for a role or site the actor may not export.
    """
    require_cohort_reader(actor)
    ids = _patient_ids(engine, actor, request)
    with UnitOfWork(engine, actor, read_only=True) as uow:
        key = pseudonym_key(uow.session)
    for start in range(0, len(ids), request.chunk_patients):
        chunk = ids[start : start + request.chunk_patients]
        with UnitOfWork(engine, actor, read_only=True) as uow:
            data = load_cohort(uow.session, actor, request.filters, only=chunk)
            alerts = _alerts(uow.session, chunk)
        yield ExportChunk(_tables(data, alerts, key, request.dates), len(chunk))
        if progress is not None:
            progress(start + len(chunk), len(ids))


def export_key(engine: Engine, actor: Actor, request: ExportRequest | None = None) -> PseudonymKey:
    """The pseudonym key the exports of this database use. Checks the role, and with a request
    the sites it asks for (AccessDeniedError), so a writer that calls it first writes no file for
    a request it must refuse."""
    if request is None:
        require_cohort_reader(actor)
    else:
        visible_sites(actor, request.filters.site_ids)
    with UnitOfWork(engine, actor, read_only=True) as uow:
        return pseudonym_key(uow.session)


def _patient_ids(engine: Engine, actor: Actor, request: ExportRequest) -> list[str]:
    require_cohort_reader(actor)
    with UnitOfWork(engine, actor, read_only=True) as uow:
        return patient_ids(uow.session, actor, request.filters)


def _alerts(session: Session, ids: Sequence[str]) -> pd.DataFrame:
    # Not raised_at: the server's clock (UTC) when the alert was stored. A bulk load stores many
    # patients' alerts in the same second, so its study day would give away the differences
    # between their true infusion dates (and in shifted mode, their shifts).
    fields = ("patient_id", "kind", "severity", "rule_id", "evidence", "citation", "state",
              "finding_at")  # fmt: skip
    rows = session.execute(
        select(*(getattr(AlertRow, f) for f in fields))
        .where(AlertRow.patient_id.in_(list(ids)))
        .order_by(AlertRow.patient_id, AlertRow.finding_at, AlertRow.alert_id)
    ).all()
    return pd.DataFrame.from_records([tuple(r) for r in rows], columns=list(fields))


def _grade(data: CohortData) -> Course | None:
    if data.assessments.empty:
        return None
    with warnings.catch_warnings():  # pandas FutureWarning inside grading.course's concat
        warnings.simplefilter("ignore", FutureWarning)
        return grade_course(data.assessments, data.drugs, data.patients, ASCO_2021)


def _tables(
    data: CohortData, alerts: pd.DataFrame, key: PseudonymKey, dates: DateMode
) -> dict[str, pd.DataFrame]:
    course = _grade(data)
    names = pseudonyms(data.patients["patient_id"], key)
    infusion = dict(zip(data.patients["patient_id"], data.patients["infusion_at"], strict=True))
    shift = {pid: date_shift(pid, key) for pid in names} if dates is DateMode.SHIFTED else {}
    timing = _Timing(names, infusion, shift)
    assessments = pd.DataFrame(columns=[*PATIENT_FIELDS[:1], "observed_at"])
    episodes = pd.DataFrame(columns=["patient_id", "onset_at", "peak_at", "resolved_at"])
    if course is not None:
        assessments = _episode_numbers(course.assessments.rename(columns={MASKING: "fever_masked"}))
        episodes = course.episodes
    raw = {
        "patients": top_code_ages(data.patients),
        "assessments": assessments,
        "episodes": episodes,
        "labs": data.labs,
        "drugs": _known_dose_units(data.drugs),
        "alerts": alerts,
        "events": data.events,
    }
    return {name: timing.apply(name, frame, dates) for name, frame in raw.items()}


def _known_dose_units(drugs: pd.DataFrame) -> pd.DataFrame:
    """Dose units outside :data:`DOSE_UNITS` become ``other``: the CSV import takes any short
    text as a unit, and free text never leaves in an export."""
    out = drugs.copy()
    unit = out["dose_unit"]
    out["dose_unit"] = unit.where(unit.isna() | unit.isin(DOSE_UNITS), OTHER_UNIT)
    return out


def _episode_numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """The course's row-to-episode codes (cohort-wide, -1 outside an episode) as the patient's
    episode number (1, 2, ... as in the episodes table; blank outside an episode)."""
    out = frame.copy()
    for name in ("crs_episode", "icans_episode"):
        code = out[name].where(out[name] >= 0)
        out[name] = code.groupby(out["patient_id"]).rank(method="dense").astype("Int64")
    return out


@dataclass(frozen=True)
class _Timing:
    """Pseudonyms, infusion instants and date shifts of one chunk's patients."""

    names: dict[str, str]
    infusion: dict[str, Any]
    shift: dict[str, timedelta]

    def apply(self, table: str, frame: pd.DataFrame, dates: DateMode) -> pd.DataFrame:
        _, times, _ = _KEYS[table]
        out = frame.reset_index(drop=True).copy()
        patient = out["patient_id"].astype(str)
        infusion = pd.to_datetime(patient.map(self.infusion))
        for name in times:
            at = pd.to_datetime(out[f"{name}_at"])
            out[f"{name}_day"] = ((at - infusion).dt.total_seconds() / 86_400).round(2)
            if dates is DateMode.SHIFTED:
                out[f"{name}_at"] = at + pd.to_timedelta(patient.map(self.shift))
        out["pseudonym"] = patient.map(self.names)
        for name in columns(table, dates):
            if name not in out.columns:
                out[name] = pd.NA
        return pd.DataFrame(out[list(columns(table, dates))]).reset_index(drop=True)
