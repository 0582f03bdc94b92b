"""Recording an assessment at the bedside: context, preview, plausibility, save, correction.

The record page reads its widgets into the same form dict as the calculator
(:class:`dashboard.services.calculator.CalculatorInput` keys) plus the vital signs, the labs and the
drugs given with this assessment, and calls this module:

- :func:`load_context` reads the patient, their last assessment (defaults carried forward), the
  tocilizumab doses of the drug log and the patient's course, through the store (site checked);
- :func:`preview` shows, before saving, the grades and flags this entry would produce: the patient's
  course is re-graded with the new row, so fever masking comes from the drug log (R-CRS-2: an
  antipyretic or anti-cytokine given since CRS onset) exactly as it will after saving, and the
  tocilizumab dose guard counts the doses in the drug log;
- :func:`warnings` lists values that are possible but unusual: the page asks for a confirmation;
- :func:`save` stores the assessment, labs and drugs in one unit of work (all or nothing), which
  re-grades the course and raises alerts, and discards the draft.

The masking answer is never stored with the assessment: the course derives it from the drug log,
so that a drug entered later corrects every grade it affects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import Engine

from dashboard.services import calculator as calc
from dashboard.store.access import Actor
from dashboard.store.alerts import Alert, AlertRepository
from dashboard.store.drafts import DraftRepository
from dashboard.store.errors import InvalidRecordError
from dashboard.store.unit_of_work import UnitOfWork
from grading import Assessment
from grading.course import MASKING, grade_course
from grading.records import Drug, DrugAdministration, LabResult
from grading.records import Patient as PatientRecord

FORM = "assessment"  # the draft's form name
VITALS = ("heart_rate_bpm", "systolic_bp_mmhg", "diastolic_bp_mmhg", "spo2_pct",
          "respiratory_rate_min")  # fmt: skip
#: Carried forward from the last assessment as the form's starting values (the nurse checks them).
CARRIED = ("oxygen_device", "oxygen_l_min", "hypotension", "motor_weakness", "cerebral_edema")
#: Possible but unusual: (field, low, high, what to check). Outside, the save needs a confirmation.
#: Data-entry plausibility ranges of this project [U], not grading rules (criteria.md grades by
#: treatment, not by these numbers): for the trial's medical monitor to review. Values outside
#: grading.assessment.PLAUSIBLE are refused outright; these only ask for a second look.
UNUSUAL: tuple[tuple[str, float, float, str], ...] = (
    ("temperature_c", 35.0, 41.0, "temperature"),
    ("heart_rate_bpm", 40, 160, "heart rate"),
    ("systolic_bp_mmhg", 80, 200, "systolic blood pressure"),
    ("diastolic_bp_mmhg", 40, 120, "diastolic blood pressure"),
    ("spo2_pct", 88, 100, "SpO2"),
    ("respiratory_rate_min", 8, 30, "respiratory rate"),
    ("oxygen_l_min", 0, 15, "oxygen flow"),
)


class EntryContext(BaseModel):
    """What the form needs to know about the patient before a new assessment."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    patient: PatientRecord
    last: dict[str, Any]  # the last assessment's values (empty when none)
    last_observed_at: datetime | None
    assessments: pd.DataFrame  # the current assessments, grading columns
    drugs: pd.DataFrame  # the current drug log


class Preview(BaseModel):
    """The grades this entry would produce, and where masking and the dose guard came from."""

    model_config = ConfigDict(frozen=True)

    view: calc.CalculatorView
    masking: bool | None  # None: not derivable (the entry is not valid yet)
    masking_basis: str
    study_day: int | None


class Saved(BaseModel):
    model_config = ConfigDict(frozen=True)

    record_id: str
    late_entry: bool
    labs: int
    drugs: int
    open_alerts: tuple[Alert, ...]


def patients(engine: Engine, actor: Actor) -> list[PatientRecord]:
    """The patients the actor may record for (their sites), by site and study id."""
    with UnitOfWork(engine, actor) as uow:
        return uow.patients.visible()


def load_draft(engine: Engine, actor: Actor, patient_id: str) -> dict[str, Any] | None:
    """The actor's unsaved entry for this patient, kept on the server."""
    with UnitOfWork(engine, actor) as uow:
        return DraftRepository(uow.session, actor).load(patient_id, FORM)


def save_draft(engine: Engine, actor: Actor, patient_id: str, values: dict[str, Any]) -> None:
    """Keep what is typed so far (overwrites the previous draft; not a clinical record)."""
    with UnitOfWork(engine, actor) as uow:
        DraftRepository(uow.session, actor).save(patient_id, FORM, values)
        uow.commit()


def discard_draft(engine: Engine, actor: Actor, patient_id: str) -> None:
    with UnitOfWork(engine, actor) as uow:
        DraftRepository(uow.session, actor).discard(patient_id, FORM)
        uow.commit()


def load_context(engine: Engine, actor: Actor, patient_id: str) -> EntryContext:
    """The patient and their current records (AccessDeniedError for another site's patient)."""
    with UnitOfWork(engine, actor) as uow:
        patient = uow.patients.get(patient_id)
        stored = uow.assessments.current(patient_id)
        drugs = uow.drugs.current(patient_id)
    rows = [_assessment_row(s.values) for s in stored]
    last = rows[-1] if rows else {}
    return EntryContext(
        patient=patient,
        last={k: v for k, v in last.items() if k in CARRIED and v is not None},
        last_observed_at=stored[-1].values.observed_at if stored else None,
        assessments=pd.DataFrame.from_records(rows, columns=_ASSESSMENT_COLUMNS),
        drugs=pd.DataFrame.from_records(
            [d.values.model_dump(mode="python") for d in drugs],
            columns=list(DrugAdministration.model_fields),
        ),
    )


def defaults(context: EntryContext) -> dict[str, Any]:
    """The form's starting values: carried from the last assessment, age from the patient."""
    values: dict[str, Any] = {k: getattr(v, "value", v) for k, v in context.last.items()}
    if context.patient.age_years is not None:
        values["age_years"] = float(context.patient.age_years)
    return values


def preview(
    form: Mapping[str, Any],
    context: EntryContext,
    observed_at: datetime,
    new_drugs: Sequence[DrugAdministration] = (),
) -> Preview:
    """Grade the entry as it will be graded once saved (course, drug log, dose guard)."""
    draft = calc.evaluate({**form, "antipyretic_or_anticytokine_given": False}, now=observed_at)
    if draft.assessment is None:
        return Preview(view=draft, masking=None, masking_basis="", study_day=None)
    drugs = _with(context.drugs, new_drugs)
    masking, basis = _masking(context, draft.assessment, observed_at, drugs)
    doses = _tocilizumab_doses(drugs, observed_at, context.patient.weight_kg)
    entry = {
        **form,
        "antipyretic_or_anticytokine_given": masking,
        "weight_kg": form.get("weight_kg") or context.patient.weight_kg,
        "tocilizumab_doses": doses,
    }
    view = calc.evaluate(entry, now=observed_at)
    day = (observed_at.date() - context.patient.infusion_at.date()).days
    return Preview(view=view, masking=masking, masking_basis=basis, study_day=day)


def warnings(form: Mapping[str, Any], vitals: Mapping[str, float | None]) -> list[str]:
    """Values that are possible but unusual: each needs the nurse's confirmation before saving."""
    values = {**vitals}
    temperature = calc.CalculatorInput.model_construct(
        temperature=form.get("temperature"), temperature_unit=form.get("temperature_unit", "C")
    ).temperature_c()[0]
    values["temperature_c"] = temperature
    values["oxygen_l_min"] = form.get("oxygen_l_min")
    out = []
    for field, low, high, what in UNUSUAL:
        value = values.get(field)
        if value is not None and not low <= float(value) <= high:
            out.append(f"{what} {value:g} is outside the usual {low:g}-{high:g}: check it")
    return out


def save(
    engine: Engine,
    actor: Actor,
    patient_id: str,
    view: calc.CalculatorView,
    observed_at: datetime,
    vitals: Mapping[str, float | None],
    labs: Sequence[LabResult] = (),
    drugs: Sequence[DrugAdministration] = (),
) -> Saved:
    """Store the graded entry with its labs and drugs, all in one transaction, or nothing."""
    if view.assessment is None or view.errors:
        raise InvalidRecordError(["the assessment has errors: fix them before saving"])
    values = view.assessment.model_dump(exclude={"patient_id", "observed_at", MASKING})
    try:
        assessment = Assessment.model_validate(
            {**values, **{k: v for k, v in vitals.items() if v is not None},
             "patient_id": patient_id, "observed_at": observed_at}
        )  # fmt: skip
    except ValidationError as error:
        raise InvalidRecordError([_message(d) for d in error.errors()]) from None
    with UnitOfWork(engine, actor) as uow:
        stored = uow.assessments.add(assessment)
        for lab in labs:
            uow.labs.add(lab)
        for drug in drugs:
            uow.drugs.add(drug)
        DraftRepository(uow.session, actor).discard(patient_id, FORM)
        uow.commit()
        alerts = AlertRepository(uow.session, actor).for_patient(patient_id, ("open",))
    return Saved(
        record_id=stored.record_id, late_entry=stored.late_entry, labs=len(labs),
        drugs=len(drugs), open_alerts=tuple(alerts),
    )  # fmt: skip


def _message(detail: Mapping[str, Any]) -> str:
    field = ".".join(str(part) for part in detail.get("loc", ())) or "entry"
    return f"{field} = {detail.get('input')!r}: {detail.get('msg')}"


_ASSESSMENT_COLUMNS = [f for f in Assessment.model_fields if f not in ("ice_items", "capd_items")]


def _assessment_row(assessment: Assessment) -> dict[str, Any]:
    dumped = assessment.model_dump(mode="python")
    return {k: getattr(dumped[k], "value", dumped[k]) for k in _ASSESSMENT_COLUMNS}


def _with(drugs: pd.DataFrame, new: Sequence[DrugAdministration]) -> pd.DataFrame:
    if not new:
        return drugs
    extra = pd.DataFrame.from_records([d.model_dump(mode="python") for d in new])
    return pd.concat([drugs, extra], ignore_index=True) if not drugs.empty else extra


def _masking(
    context: EntryContext, draft: Assessment, observed_at: datetime, drugs: pd.DataFrame
) -> tuple[bool, str]:
    """R-CRS-2 for the new row, from the course re-graded with it (as after saving)."""
    row: dict[str, Any] = {**_assessment_row(draft), "patient_id": context.patient.patient_id,
                           "observed_at": observed_at, MASKING: None}  # fmt: skip
    earlier: list[Any] = context.assessments.assign(**{MASKING: None}).to_dict("records")
    frame = pd.DataFrame.from_records([*earlier, row])
    course = grade_course(frame, drugs if not drugs.empty else None)
    graded = course.assessments.set_index("_row").sort_index()
    masked = bool(graded[MASKING].iloc[-1])
    if masked:
        return True, "an antipyretic or anti-cytokine in the drug log was given since CRS onset"
    return False, "no antipyretic or anti-cytokine in the drug log since CRS onset"


def _tocilizumab_doses(
    drugs: pd.DataFrame, observed_at: datetime, weight_kg: float | None
) -> list[dict[str, float]]:
    """The drug log's tocilizumab doses of the last 30 days, as the calculator's prior doses."""
    if drugs.empty:
        return []
    toci = drugs[drugs["drug"].astype(str) == Drug.TOCILIZUMAB.value]
    doses = []
    for given_at, dose, unit in zip(
        pd.to_datetime(toci["given_at"]), toci["dose"], toci["dose_unit"], strict=True
    ):
        hours = (observed_at - given_at.to_pydatetime()) / timedelta(hours=1)
        mg = float(dose) * weight_kg if str(unit).lower() == "mg/kg" and weight_kg else dose
        if 0 <= hours <= calc.MAX_HOURS_AGO and mg is not None and not pd.isna(mg):
            doses.append({"hours_ago": round(hours, 2), "dose_mg": float(mg)})
    # the newest doses decide the limits; the calculator takes at most MAX_DOSE_ROWS
    return sorted(doses, key=lambda d: d["hours_ago"])[: calc.MAX_DOSE_ROWS]
