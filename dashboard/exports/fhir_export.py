"""FHIR R4 export: the de-identified cohort as Bulk-Data NDJSON and a collection Bundle, and an
identified Bundle of one patient's labs for a round trip into another cartwatch.

De-identified (researchers, administrators; :func:`write_fhir`), from
:func:`dashboard.exports.source.export_chunks`, streamed chunk by chunk:

- ``Patient.ndjson``: id and only identifier = the pseudonym (system ``urn:cartwatch:pseudonym``),
  gender; no name, no birth date, no study id, no site name.
- ``Observation.ndjson``: lab results (LOINC only where criteria.md §8.3 tags it [C], always the
  local analyte code; UCUM value), vital signs of the assessments (category vital-signs; the
  blood pressure as the FHIR panel with systolic and diastolic components), and the ASTCT CRS
  and ICANS grade of every
  assessment (local code system ``urn:cartwatch:astct``: no LOINC code exists; a grade that
  could not be computed leaves with a data-absent reason, never as 0).
- ``AdverseEvent.ndjson``: one per CRS or ICANS episode: onset as ``date``, severity (mild,
  moderate, severe), outcome (resolved, ongoing, fatal), the exact ASTCT grade, episode number,
  peak and resolution times as extensions (:mod:`dashboard.exports.fhir_mapping`).
- ``bundle.json``: the same resources in one ``collection`` Bundle, written entry by entry.
- ``manifest.json``: the de-identification manifest.

FHIR date-times need a calendar date and a UTC offset, so this export requires shifted dates
(``DateMode.SHIFTED``; a study-day request is refused with a ValueError, never switched silently).
The store keeps clinical times as wall-clock times without an offset: ``site_timezone`` (IANA
name, default UTC) says which zone they are in, and the offset written is that zone's.

Every resource is built as a ``fhir.resources.R4B`` model, which validates it (R4B is
wire-compatible with R4 for these resources, see fhir_mapping).
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import pandas as pd
from fhir.resources.R4B.adverseevent import AdverseEvent
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.resource import Resource
from sqlalchemy import Engine

from dashboard.exports import fhir_mapping as fm
from dashboard.exports.source import (
    DateMode,
    ExportChunk,
    ExportRequest,
    Progress,
    export_chunks,
    export_key,
    export_manifest,
)
from dashboard.store.access import Actor
from dashboard.store.errors import AccessDeniedError
from dashboard.store.schema import Patient as PatientRow
from dashboard.store.unit_of_work import UnitOfWork
from grading.records import Analyte, LabResult

RESOURCE_TYPES = ("Patient", "Observation", "AdverseEvent")
UTC_ZONE = ZoneInfo("UTC")
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:cartwatch:fhir")


# -- pure mapping: store rows -> FHIR resources ---------------------------------------------------
def resource_id(*parts: object) -> str:
    """A stable resource id (UUID 5) from the parts that make the resource unique."""
    return str(uuid.uuid5(_NAMESPACE, "|".join(str(p) for p in parts)))


def fhir_datetime(at: datetime | pd.Timestamp, zone: ZoneInfo) -> str:
    """A stored wall-clock time as a FHIR dateTime with the zone's offset (seconds kept exact)."""
    moment = pd.Timestamp(at).to_pydatetime()
    return moment.replace(tzinfo=zone).isoformat()


def valid(model: type[Resource], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` once its fhir.resources model accepts it (pydantic ValidationError otherwise).

    The model validates; the dict is what is written: json.dumps of a dict is several times
    faster than the model's own serialiser, and floats keep their shortest repr (4.73)."""
    model.model_validate(data)
    return data


def _quantity(value: float, unit: str, ucum: str | None) -> dict[str, Any]:
    quantity: dict[str, Any] = {"value": float(value), "unit": unit}
    if ucum is not None:
        quantity |= {"system": fm.UCUM_SYSTEM, "code": ucum}
    return quantity


def _category(code: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": fm.OBSERVATION_CATEGORY, "code": code}]}]


def lab_observation(
    subject: str, collected_at: datetime, analyte: str, value: float, unit: str,
    loinc: str | None, zone: ZoneInfo,
) -> dict[str, Any]:  # fmt: skip
    """One lab result as an Observation: the analyte's [C] LOINC code (criteria.md §8.3), the
    local analyte code, and the value in its stored unit with its UCUM code where one is known.

    The LOINC coding is written when no code is stored or the stored code is the table's [C]
    code; a stored code that differs (an [S] code such as CD19 8116-6 imported from a CSV, or
    another test's code) is not confirmed, and the result leaves with its local code only."""
    kind = Analyte(analyte)
    codings = []
    table = fm.confirmed_loinc(kind, loinc) if loinc else fm.LAB_LOINC.get(kind)
    if table is not None:
        codings.append(table.coding())
    codings.append(fm.analyte_code(kind).coding())
    when = fhir_datetime(collected_at, zone)
    return valid(
        Observation,
        {
            "resourceType": "Observation",
            "id": resource_id(subject, "lab", analyte, when),
            "status": "final",
            "category": _category("laboratory"),
            "code": {"coding": codings, "text": analyte},
            "subject": {"reference": subject},
            "effectiveDateTime": when,
            "valueQuantity": _quantity(value, unit, fm.ucum_code(unit)),
        },
    )


def fhir_observations(
    labs: Iterable[LabResult], subject: str, zone: ZoneInfo = UTC_ZONE
) -> list[dict[str, Any]]:
    """Lab results as Observations of ``subject`` (a reference such as ``Patient/<id>``)."""
    return [
        lab_observation(subject, lab.collected_at, lab.analyte.value, lab.value, lab.unit,
                        lab.loinc, zone)
        for lab in labs
    ]  # fmt: skip


def _present(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return False
    return not (isinstance(value, float) and math.isnan(value))


def vital_observations(
    subject: str, row: Mapping[str, Any], zone: ZoneInfo
) -> list[dict[str, Any]]:
    """The vital signs of one assessment row (``observed_at`` and the vital columns): one
    Observation per vital, systolic and diastolic together as the blood-pressure panel."""
    when = fhir_datetime(row["observed_at"], zone)
    out = []
    for vital in fm.VITALS:
        value: Any = row.get(vital.column)
        if vital.column.endswith("_bp_mmhg") or not _present(value):
            continue
        codings = [vital.code.coding()]
        if vital.column == "spo2_pct":
            codings.append(fm.SPO2_ALSO.coding())
        out.append(
            _vital(subject, when, codings, vital.code.display,
                   {"valueQuantity": _quantity(value, vital.unit, vital.unit)})
        )  # fmt: skip
    components = [
        {
            "code": {"coding": [vital.code.coding()]},
            "valueQuantity": _quantity(row[vital.column], vital.unit, vital.unit),
        }
        for vital in fm.VITALS
        if vital.column.endswith("_bp_mmhg") and _present(row.get(vital.column))
    ]
    if components:
        panel = fm.BP_PANEL
        out.append(_vital(subject, when, [panel.coding()], panel.display,
                          {"component": components}))  # fmt: skip
    return out


def _vital(
    subject: str, when: str, codings: list[dict[str, str]], text: str, value: dict[str, Any]
) -> dict[str, Any]:
    return valid(
        Observation,
        {
            "resourceType": "Observation",
            "id": resource_id(subject, "vital", codings[0]["code"], when),
            "status": "final",
            "category": _category("vital-signs"),
            "code": {"coding": codings, "text": text},
            "subject": {"reference": subject},
            "effectiveDateTime": when,
            **value,
        },
    )


def grade_observations(
    subject: str, row: Mapping[str, Any], zone: ZoneInfo
) -> list[dict[str, Any]]:
    """The ASTCT CRS and ICANS grades of one graded assessment row. A grade that could not be
    computed (status ``not_gradable``) leaves with data-absent reason ``unknown``, never as 0."""
    when = fhir_datetime(row["observed_at"], zone)
    out = []
    for syndrome, code in (("crs", fm.CRS_GRADE), ("icans", fm.ICANS_GRADE)):
        grade: Any = row.get(f"{syndrome}_grade")
        status = row.get(f"{syndrome}_status")
        if not _present(status):
            continue
        value: dict[str, Any]
        if status == "not_gradable" or not _present(grade):
            value = {
                "dataAbsentReason": {
                    "coding": [{"system": fm.DATA_ABSENT_SYSTEM, "code": "unknown"}],
                    "text": "not gradable: an input the grade needs was not recorded",
                }
            }
        else:
            value = {"valueInteger": int(grade)}
        out.append(
            valid(
                Observation,
                {
                    "resourceType": "Observation",
                    "id": resource_id(subject, "grade", code.code, when),
                    "status": "final",
                    "category": _category("exam"),
                    "code": {"coding": [code.coding()], "text": code.display},
                    "subject": {"reference": subject},
                    "effectiveDateTime": when,
                    **value,
                },
            )
        )
    return out


def adverse_event(
    subject: str, row: Mapping[str, Any], product: str | None, zone: ZoneInfo
) -> dict[str, Any]:
    """One CRS or ICANS episode (``syndrome``, ``episode``, ``onset_at``, ``peak_at``,
    ``resolved_at``, ``peak_grade``, ``status``) as an AdverseEvent of ``subject``."""
    syndrome = str(row["syndrome"])
    extensions: list[dict[str, Any]] = []
    grade = int(row["peak_grade"]) if _present(row.get("peak_grade")) else None
    if grade is not None:
        extensions.append({"url": fm.GRADE_EXTENSION, "valueInteger": grade})
    extensions.append({"url": fm.EPISODE_EXTENSION, "valueInteger": int(row["episode"])})
    for url, column in ((fm.PEAK_EXTENSION, "peak_at"), (fm.RESOLVED_EXTENSION, "resolved_at")):
        if _present(row.get(column)):
            extensions.append({"url": url, "valueDateTime": fhir_datetime(row[column], zone)})
    onset = fhir_datetime(row["onset_at"], zone)
    resource: dict[str, Any] = {
        "resourceType": "AdverseEvent",
        "id": resource_id(subject, "episode", syndrome, row["episode"]),
        "extension": extensions,
        "actuality": "actual",
        "event": {"coding": [fm.SYNDROMES[syndrome].coding()], "text": syndrome},
        "subject": {"reference": subject},
        "date": onset,
    }
    if grade is not None:
        code = fm.severity(grade)
        resource["severity"] = {"coding": [{"system": fm.SEVERITY_SYSTEM, "code": code}]}
    outcome = (
        "fatal"
        if grade == 5
        else {"resolved": "resolved", "ongoing": "ongoing"}.get(str(row.get("status")))
    )
    if outcome is not None:
        resource["outcome"] = {"coding": [{"system": fm.OUTCOME_SYSTEM, "code": outcome}]}
    if product:
        resource["suspectEntity"] = [{"instance": {"display": product}}]
    return valid(AdverseEvent, resource)


def patient_resource(
    resource: str, system: str, value: str, sex: str | None = None
) -> dict[str, Any]:
    """A Patient with one identifier and gender only (no name, no birth date)."""
    data: dict[str, Any] = {
        "resourceType": "Patient",
        "id": resource,
        "identifier": [{"system": system, "value": value}],
    }
    if sex in ("female", "male", "other"):
        data["gender"] = sex
    return valid(Patient, data)


# -- the de-identified export ---------------------------------------------------------------------
def chunk_resources(chunk: ExportChunk, zone: ZoneInfo) -> Iterator[dict[str, Any]]:
    """Every resource of one chunk of de-identified tables: Patients, Observations (labs,
    vitals, grades), AdverseEvents."""
    tables = chunk.tables
    products: dict[str, str | None] = {}
    for row in _rows(tables["patients"]):
        name = str(row["pseudonym"])
        products[name] = row["product"] if _present(row["product"]) else None
        sex = row["sex"] if _present(row["sex"]) else None
        yield patient_resource(name, fm.PSEUDONYM_SYSTEM, name, sex)
    for row in _rows(tables["labs"]):
        yield lab_observation(
            _subject(row), row["collected_at"], row["analyte"], row["value"], row["unit"],
            row["loinc"] if _present(row["loinc"]) else None, zone,
        )  # fmt: skip
    for row in _rows(tables["assessments"]):
        yield from vital_observations(_subject(row), row, zone)
        yield from grade_observations(_subject(row), row, zone)
    for row in _rows(tables["episodes"]):
        yield adverse_event(_subject(row), row, products.get(str(row["pseudonym"])), zone)


def _rows(frame: pd.DataFrame) -> Iterator[dict[str, Any]]:
    for record in frame.astype(object).to_dict("records"):
        yield {str(k): v for k, v in record.items()}


def _subject(row: Mapping[str, Any]) -> str:
    return f"Patient/{row['pseudonym']}"


def write_fhir(
    engine: Engine,
    actor: Actor,
    request: ExportRequest,
    out_dir: Path,
    progress: Progress | None = None,
    *,
    ndjson: bool = True,
    bundle: bool = True,
    site_timezone: str = "UTC",
) -> list[Path]:
    """Write the de-identified FHIR export into ``out_dir`` (module docstring) and return the
    files written. ValueError for study-day dates or when neither NDJSON nor a bundle is asked
    for; AccessDeniedError (from the source) for a user who may not export."""
    if request.dates is not DateMode.SHIFTED:
        raise ValueError(
            "FHIR needs calendar date-times: ask for shifted dates (dates=shifted); study days "
            "alone cannot be written as FHIR dateTime values"
        )
    if not (ndjson or bundle):
        raise ValueError("choose NDJSON, a bundle, or both")
    zone = ZoneInfo(site_timezone)
    key = export_key(engine, actor, request)  # role and sites, before any file
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    with ExitStack() as stack:
        lines: dict[str, IO[str]] = {}
        if ndjson:
            for kind in RESOURCE_TYPES:
                path = out_dir / f"{kind}.ndjson"
                lines[kind] = stack.enter_context(path.open("w", encoding="utf-8"))
                paths.append(path)
        entries = _BundleWriter(stack, out_dir / "bundle.json", key.key_id) if bundle else None
        for chunk in export_chunks(engine, actor, request, progress):
            for resource in chunk_resources(chunk, zone):
                text = json.dumps(resource, separators=(",", ":"), ensure_ascii=False)
                if ndjson:
                    lines[resource["resourceType"]].write(text + "\n")
                if entries is not None:
                    entries.add(text)
        if entries is not None:
            entries.close()
            paths.append(entries.path)
    entries_manifest = export_manifest(key, request) | {
        "format": "FHIR R4 (built with fhir.resources R4B models; R4B is wire-compatible with "
        "R4 for Patient, Observation, AdverseEvent and Bundle)",
        "time zone": f"stored wall-clock times written with the offset of {site_timezone}",
        "patient identifier": f"pseudonym only ({fm.PSEUDONYM_SYSTEM}); no name, no birth date",
        "files": ", ".join(p.name for p in paths),
    }
    manifest = out_dir / "manifest.json"
    manifest.write_text(json.dumps(entries_manifest, indent=2) + "\n", encoding="utf-8")
    return [*paths, manifest]


class _BundleWriter:
    """A collection Bundle written entry by entry (the envelope is validated once, each entry's
    resource was validated when it was built)."""

    def __init__(self, stack: ExitStack, path: Path, key_id: str) -> None:
        self.path, self.count = path, 0
        envelope = Bundle.model_validate(
            {"resourceType": "Bundle", "id": resource_id("bundle", key_id), "type": "collection"}
        ).model_dump_json()
        self.file = stack.enter_context(path.open("w", encoding="utf-8"))
        self.file.write(envelope[:-1] + ',"entry":[\n')

    def add(self, resource_json: str) -> None:
        self.file.write(("," if self.count else "") + '{"resource":' + resource_json + "}\n")
        self.count += 1

    def close(self) -> None:
        self.file.write("]}\n")


# -- the identified bundle (round trip into another cartwatch) ------------------------------------
def identified_lab_bundle(
    engine: Engine, actor: Actor, patient_id: str, *, site_timezone: str = "UTC"
) -> str:
    """One patient's current lab results as a collection Bundle with the **study id** as the
    Patient identifier (system ``urn:cartwatch:study-id``), for import into another cartwatch.

    Identified data: only nurses and physicians of the patient's site may export it
    (``Actor.require_write``); never part of the research exports. AccessDeniedError otherwise.
    """
    zone = ZoneInfo(site_timezone)
    with UnitOfWork(engine, actor, read_only=True) as uow:
        patient = uow.session.get(PatientRow, patient_id)
        if patient is None or patient.site_id not in actor.site_ids:
            # the same words whether the patient is unknown or elsewhere: nothing leaks
            raise AccessDeniedError(
                f"{actor.username} cannot export patient {patient_id}: only nurses and "
                "physicians of the patient's site can"
            )
        actor.require_write(patient.site_id)
        sex = patient.sex
        labs = [stored.values for stored in uow.labs.current(patient_id)]
    resource = resource_id("patient", patient_id)
    subject = f"Patient/{resource}"
    resources = [
        patient_resource(resource, fm.STUDY_ID_SYSTEM, patient_id, sex),
        *fhir_observations(labs, subject, zone),
    ]
    bundle = Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": resource} for resource in resources],
        }
    )
    return bundle.model_dump_json(indent=1)
