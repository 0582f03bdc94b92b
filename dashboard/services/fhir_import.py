"""Import a FHIR Bundle of Observations from an EHR: lab results and vital signs, mapped by LOINC
or a local code and by unit, through the same validation and whole-file rule as every import.

    report = import_fhir_bundle(engine, nurse, bundle_json, PatientMap(identifier_system=MRN))

Steps:

1. **Read the bundle.** JSON with ``resourceType`` Bundle and type collection, searchset,
   transaction or batch. Each entry's resource is validated with its ``fhir.resources.R4B``
   model (Patient, Observation; R4B is wire-compatible with R4 for these). Other resource types
   are counted as not imported.
2. **Map each Observation** (status final, amended or corrected; others counted as not
   imported) by the codes of ``code`` and of each ``component`` through the mapping table
   ``{system|code: target}`` (:func:`dashboard.exports.fhir_mapping.default_codes`: LOINC and
   the local analyte codes, plus ``local_codes``), a target being an analyte (a lab result) or a
   vital-sign column of an assessment. **An unmapped code is not an error**: it is reported
   (system, code, display, count) and skipped, so a bundle with the whole EHR chart can be
   imported for the parts cartwatch reads. An Observation without a value (data-absent reason)
   is skipped and counted: missing is never stored as a value.
3. **Units.** The UCUM code (or the unit text) must be one of the analyte's units
   (:mod:`grading.units`; UCUM spellings such as ``10*9/L`` or ``{cells}/uL`` are read back to
   the store's spelling) or, for a vital sign, one of its UCUM units (°F is converted to °C
   exactly as the form does). **An unknown unit for a mapped code is an error**, never a guess;
   so is a value with a comparator (``<5``), which cannot be stored as a number.
4. **The patient**: ``Observation.subject`` → study id, by the subject's identifier with
   :attr:`PatientMap.identifier_system`, by :attr:`PatientMap.references`, or by resolving
   ``Patient/<id>`` (or a ``fullUrl``) to a Patient in the bundle and taking its identifier with
   that system.
5. **Times**: FHIR date-times carry a UTC offset; the store keeps the site's wall-clock time
   without one, so each is converted to ``site_timezone`` (IANA name, default UTC) and the
   offset dropped. A date without a time of day is an error.
6. **The same import as a CSV file.** Lab results become rows of the ``labs`` contract; the vital
   signs of one patient at one time become one ``assessments`` row (an assessment with vitals
   only: its CRS grade is then "not gradable" until the rest is recorded, never normal). Both go
   through :func:`dashboard.store.importer.import_into` in one unit of work: contract
   validation, access (nurses and physicians of the patient's site), natural keys, nothing stored
   twice or overwritten, audit. Re-importing a bundle stores nothing twice.

Every problem (from the mapping or from the importer) is reported at once as a
:class:`~dashboard.csv_contract.Problem` whose ``row`` is the **entry index** in ``Bundle.entry``
(0-based, as in ``Bundle.entry[3]``) and whose ``column`` is the FHIR element
(``valueQuantity.code``, ``effectiveDateTime``, ``subject``...); then
:class:`~dashboard.store.importer.ImportRejectedError` is raised and nothing is stored.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from pydantic import ValidationError
from sqlalchemy import Engine

from dashboard.csv_contract import Problem
from dashboard.exports import fhir_mapping as fm
from dashboard.store.access import Actor, Role
from dashboard.store.errors import AccessDeniedError
from dashboard.store.importer import ImportRejectedError, ImportReport, import_into
from dashboard.store.unit_of_work import UnitOfWork
from grading.records import Analyte
from grading.units import UNITS, allowed_units, fahrenheit_to_celsius, fold

BUNDLE_TYPES = ("collection", "searchset", "transaction", "batch")
IMPORTED_STATUSES = ("final", "amended", "corrected")
#: Unit texts seen for vital signs that are not UCUM codes, read as the UCUM code they mean.
VITAL_UNIT_ALIASES = {
    "°C": "Cel", "C": "Cel", "degC": "Cel", "°F": "[degF]", "F": "[degF]", "degF": "[degF]",
    "mmHg": "mm[Hg]", "bpm": "/min", "beats/min": "/min", "breaths/min": "/min",
}  # fmt: skip
LAB_COLUMNS = ("patient_id", "collected_at", "analyte", "value", "unit", "loinc")
Kind = Literal["labs", "assessments"]


@dataclass(frozen=True)
class PatientMap:
    """How ``Observation.subject`` becomes a study id: an identifier with ``identifier_system``
    (on the subject reference or on the Patient it points to in the bundle), or an explicit
    ``references`` entry (``"Patient/123"`` or a fullUrl → study id)."""

    identifier_system: str = fm.STUDY_ID_SYSTEM
    references: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class UnmappedCode:
    """A code the mapping table does not know: skipped, reported with how often it was seen."""

    system: str | None
    code: str | None
    display: str | None
    count: int


@dataclass(frozen=True)
class FhirImportReport:
    """What one bundle import did (``labs``/``vitals``: the importer's reports, None when the
    bundle held none)."""

    file_name: str
    sha256: str
    entries: int
    observations: int
    labs: ImportReport | None
    vitals: ImportReport | None
    unmapped: tuple[UnmappedCode, ...]
    not_imported: tuple[tuple[str, int], ...]  # (reason, count): status, no value, other types

    @property
    def stored(self) -> int:
        return sum(r.stored for r in (self.labs, self.vitals) if r is not None)


# -- the mapped rows, and where each cell came from -----------------------------------------------
@dataclass(frozen=True)
class _Origin:
    entry: int
    element: str
    value: str | None


@dataclass
class _Table:
    """Rows of one importer kind, keyed by their natural key, with each cell's origin."""

    kind: Kind
    rows: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)
    origins: dict[tuple[Any, ...], dict[str, _Origin]] = field(default_factory=dict)

    def put(
        self, key: tuple[Any, ...], base: dict[str, Any], column: str, value: Any,
        origins: dict[str, _Origin],
    ) -> Problem | None:  # fmt: skip
        """Add one value; a different value for the same cell from another entry is a problem."""
        row = self.rows.setdefault(key, dict(base))
        known = self.origins.setdefault(key, {})
        if column in row and row[column] != value:
            first = known[column]
            here = origins[column]
            message = (
                f"{first.element} of entry {first.entry} gives {row[column]!r} for the same "
                f"patient, time and {column}: one value is needed"
            )
            return Problem(here.entry, here.element, here.value, message)
        row[column] = value
        for name, origin in origins.items():
            known.setdefault(name, origin)
        return None

    def csv(self, columns: tuple[str, ...]) -> tuple[bytes, list[dict[str, _Origin]]]:
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer)
        writer.writerow(columns)
        origins = []
        for key, row in self.rows.items():
            writer.writerow(_cell(row.get(name)) for name in columns)
            origins.append(self.origins[key])
        return buffer.getvalue().encode("utf-8"), origins


@dataclass(frozen=True)
class _Where:
    """The patient and time of one Observation, and the elements they came from."""

    patient_id: str
    at: datetime
    origins: dict[str, _Origin]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


# -- the import -----------------------------------------------------------------------------------
def import_fhir_bundle(
    engine: Engine,
    actor: Actor,
    bundle_json: str | bytes,
    patient_map: PatientMap | None = None,
    *,
    local_codes: Mapping[str, str] | None = None,
    site_timezone: str = "UTC",
    name: str = "bundle.json",
) -> FhirImportReport:
    """Import the lab results and vital signs of a FHIR Bundle (module docstring), as ``actor``.

    ``local_codes`` adds ``{"system|code": analyte or vital column}`` to the default table
    (ValueError for an unknown target). Raises ImportRejectedError (nothing stored) listing
    every problem; AccessDeniedError for a user who may not enter data.
    """
    if actor.role not in (Role.NURSE, Role.PHYSICIAN):
        raise AccessDeniedError(
            f"{actor.username} ({actor.role.value}) cannot import observations: only nurse or "
            "physician accounts can"
        )
    data = bundle_json.encode("utf-8") if isinstance(bundle_json, str) else bundle_json
    digest = hashlib.sha256(data).hexdigest()
    mapper = _Mapper(
        patient_map or PatientMap(), mapping_table(local_codes), ZoneInfo(site_timezone)
    )
    entries = _entries(data, name)
    mapper.read(entries)
    problems = list(mapper.problems)
    reports: dict[Kind, ImportReport | None] = {"labs": None, "assessments": None}
    with UnitOfWork(engine, actor) as uow:
        tables: tuple[tuple[Kind, _Table, tuple[str, ...]], ...] = (
            ("labs", mapper.labs, LAB_COLUMNS),
            ("assessments", mapper.vitals, ("patient_id", "observed_at", *fm.VITAL_BY_COLUMN)),
        )
        for kind, table, columns in tables:
            if not table.rows:
                continue
            text, origins = table.csv(columns)
            try:
                reports[kind] = import_into(uow, kind, io.BytesIO(text), name=f"{name}#{kind}")
            except ImportRejectedError as error:
                problems += [_from_importer(p, origins) for p in error.problems]
        if problems:
            raise ImportRejectedError(name, sorted(problems, key=_order))
        if any(r is not None and r.stored for r in reports.values()):
            uow.commit()
    return FhirImportReport(
        file_name=name,
        sha256=digest,
        entries=len(entries),
        observations=mapper.observations,
        labs=reports["labs"],
        vitals=reports["assessments"],
        unmapped=tuple(
            UnmappedCode(system, code, display, count)
            for (system, code, display), count in sorted(
                mapper.unmapped.items(), key=lambda item: (-item[1], str(item[0]))
            )
        ),
        not_imported=tuple(sorted(mapper.not_imported.items())),
    )


def mapping_table(local_codes: Mapping[str, str] | None = None) -> dict[str, str]:
    """The default mapping table plus ``local_codes``; ValueError names a target that is
    neither an analyte nor a vital-sign column, or a key without ``system|code``."""
    table = fm.default_codes()
    targets = {a.value for a in Analyte} | set(fm.VITAL_BY_COLUMN)
    for key, target in (local_codes or {}).items():
        if "|" not in key:
            raise ValueError(f"mapping key {key!r} must be 'system|code'")
        if target not in targets:
            raise ValueError(
                f"mapping target {target!r} of {key!r} is neither an analyte nor a vital sign "
                f"({', '.join(sorted(targets))})"
            )
        table[key] = target
    return table


def _entries(data: bytes, name: str) -> list[Any]:
    def refuse(message: str) -> ImportRejectedError:
        return ImportRejectedError(name, [Problem(None, None, None, message)])

    try:
        bundle = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise refuse(f"not a JSON document ({error}): export a FHIR Bundle as JSON") from None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise refuse("not a FHIR Bundle (resourceType must be Bundle)")
    if bundle.get("type") not in BUNDLE_TYPES:
        raise refuse(f"Bundle.type {bundle.get('type')!r} is not one of {', '.join(BUNDLE_TYPES)}")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise refuse("Bundle.entry must be a list")
    return entries


def _from_importer(problem: Problem, origins: list[dict[str, _Origin]]) -> Problem:
    """An importer problem (CSV row, column) as the bundle's (entry index, FHIR element)."""
    if problem.row is None or not 2 <= problem.row < len(origins) + 2:
        return problem
    cells = origins[problem.row - 2]
    if problem.column in cells:
        origin = cells[problem.column]
        return Problem(origin.entry, origin.element, origin.value, problem.message)
    # A cartwatch column the bundle does not fill (a stored assessment at the same time holds
    # more than vital signs): no FHIR element to name, so the message keeps the column's name.
    message = problem.message
    if problem.column:
        message = f"cartwatch column {problem.column} (not in this bundle): {message}"
    return Problem(cells["patient_id"].entry, None, None, message)


def _order(problem: Problem) -> tuple[int, str]:
    return (-1 if problem.row is None else problem.row, problem.column or "")


# -- step 1-5: entries to rows --------------------------------------------------------------------
class _Mapper:
    """Reads the entries into lab rows and vital-sign rows, collecting problems and counts."""

    def __init__(self, patients: PatientMap, codes: dict[str, str], zone: ZoneInfo) -> None:
        self.patients, self.codes, self.zone = patients, codes, zone
        self.labs, self.vitals = _Table("labs"), _Table("assessments")
        self.problems: list[Problem] = []
        self.unmapped: Counter[tuple[str | None, str | None, str | None]] = Counter()
        self.not_imported: Counter[str] = Counter()
        self.observations = 0
        self.study_ids: dict[str, str | None] = {}  # reference or fullUrl -> study id

    def read(self, entries: list[Any]) -> None:
        observations = []
        for index, entry in enumerate(entries):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict):
                self.not_imported["entry without a resource"] += 1
                continue
            kind = resource.get("resourceType")
            if kind == "Patient":
                self._patient(index, entry, resource)
            elif kind == "Observation":
                model = self._validated(index, Observation, resource)
                if model is not None:
                    observations.append((index, model))
            else:
                self.not_imported[f"resource type {kind or 'missing'}"] += 1
        self.observations = len(observations)
        for index, observation in observations:
            self._observation(index, observation)

    def _validated(self, index: int, model: type[Any], resource: dict[str, Any]) -> Any:
        try:
            return model.model_validate(resource)
        except ValidationError as error:
            for item in error.errors(include_url=False):
                element = ".".join(str(part) for part in item["loc"]) or None
                value = item.get("input")
                shown = value if isinstance(value, str | int | float) else None
                message = f"{item['msg']} [FHIR {model.__name__}]"
                self.problems.append(
                    Problem(index, element, None if shown is None else str(shown), message)
                )
            return None

    def _patient(self, index: int, entry: dict[str, Any], resource: dict[str, Any]) -> None:
        patient = self._validated(index, Patient, resource)
        if patient is None:
            return
        study_id = next(
            (i.value for i in patient.identifier or [] if i.system == self.patients.identifier_system),
            None,
        )  # fmt: skip
        for key in (f"Patient/{patient.id}" if patient.id else None, entry.get("fullUrl")):
            if key:
                self.study_ids[key] = study_id

    # -- one observation -------------------------------------------------------------------
    def _observation(self, index: int, observation: Any) -> None:
        status = str(observation.status)
        if status not in IMPORTED_STATUSES:
            self.not_imported[f"status {status} (only {', '.join(IMPORTED_STATUSES)})"] += 1
            return
        targets = []
        top = self._target(observation.code)
        if top is not None:
            targets.append((top, observation, "", observation.code))
        for k, component in enumerate(observation.component or []):
            target = self._target(component.code)
            if target is not None:
                targets.append((target, component, f"component[{k}].", component.code))
        if not targets:
            self.unmapped[_first_coding(observation.code)] += 1
            return
        patient_id = self._study_id(index, observation.subject)
        at, time_element = self._time(index, observation)
        where = None  # the values are still checked when the patient or time is not known
        if patient_id is not None and at is not None:
            where = _Where(patient_id, at, {
                "patient_id": _Origin(index, "subject", patient_id),
                "collected_at": _Origin(index, time_element, at.isoformat()),
                "observed_at": _Origin(index, time_element, at.isoformat()),
            })  # fmt: skip
        for target, holder, prefix, code in targets:
            self._value(index, target, holder, prefix, code, where)

    def _target(self, concept: Any) -> str | None:
        for coding in (concept.coding if concept is not None else None) or []:
            target = self.codes.get(f"{coding.system}|{coding.code}")
            if target is not None:
                return target
        return None

    def _study_id(self, index: int, subject: Any) -> str | None:
        system = self.patients.identifier_system
        if subject is None:
            self._problem(index, "subject", None, "no subject: the patient is needed")
            return None
        identifier = subject.identifier
        if identifier is not None and identifier.system == system and identifier.value:
            return str(identifier.value)
        reference = subject.reference
        if reference in self.patients.references:
            return str(self.patients.references[reference])
        if reference in self.study_ids:
            found = self.study_ids[reference]
            if found is None:
                message = f"the Patient in this bundle has no identifier with system {system}"
                self._problem(index, "subject", reference, message)
            return found
        message = (
            f"cannot be resolved to a study id: not a Patient in this bundle, no identifier with "
            f"system {system}, not in the patient map"
        )
        self._problem(index, "subject", reference, message)
        return None

    def _time(self, index: int, observation: Any) -> tuple[datetime | None, str]:
        element, at = "effectiveDateTime", observation.effectiveDateTime
        if at is None and observation.effectiveInstant is not None:
            element, at = "effectiveInstant", observation.effectiveInstant
        if at is None and observation.effectivePeriod is not None:
            element, at = "effectivePeriod.start", observation.effectivePeriod.start
        if at is None:
            self._problem(index, "effective[x]", None, "no time: effectiveDateTime is needed")
            return None, element
        if not isinstance(at, datetime):
            message = "a time of day is needed: a date alone cannot be placed in the course"
            self._problem(index, element, str(at), message)
            return None, element
        if at.tzinfo is None:  # not valid FHIR with a time of day, but be safe
            return at, element
        return at.astimezone(self.zone).replace(tzinfo=None), element

    def _value(
        self, index: int, target: str, holder: Any, prefix: str, code: Any,
        where: _Where | None,
    ) -> None:  # fmt: skip
        quantity = holder.valueQuantity
        element = f"{prefix}valueQuantity"
        if quantity is None:
            other = [n for n in type(holder).model_fields if n.startswith("value") and
                     not n.endswith("__ext") and getattr(holder, n) is not None]  # fmt: skip
            if other:
                message = "a lab result or vital sign needs valueQuantity (a number with a unit)"
                self._problem(index, f"{prefix}{other[0]}", None, message)
            else:
                self.not_imported["no value (data absent)"] += 1
            return
        if quantity.comparator is not None:
            message = (
                f"a value with a comparator ({quantity.comparator}) cannot be stored as a number: "
                "enter it in the app"
            )
            self._problem(index, f"{element}.comparator", str(quantity.comparator), message)
            return
        if quantity.value is None:
            self._problem(index, f"{element}.value", None, "the value is missing")
            return
        unit_element = f"{element}.code" if quantity.code else f"{element}.unit"
        unit_text = quantity.code or quantity.unit
        value_text = str(quantity.value)
        if target in fm.VITAL_BY_COLUMN:
            number = self._vital_value(index, target, quantity, unit_element, unit_text)
            if number is None or where is None:
                return
            origins = where.origins | {target: _Origin(index, f"{element}.value", value_text)}
            base = {"patient_id": where.patient_id, "observed_at": where.at}
            problem = self.vitals.put((where.patient_id, where.at), base, target, number, origins)
        else:
            analyte = Analyte(target)
            unit = self._lab_unit(index, analyte, quantity, unit_element, unit_text)
            if unit is None or where is None:
                return
            origins = where.origins | {
                "value": _Origin(index, f"{element}.value", value_text),
                "unit": _Origin(index, unit_element, unit_text),
                "analyte": _Origin(index, f"{prefix}code", analyte.value),
                "loinc": _Origin(index, f"{prefix}code", None),
            }
            base = {"patient_id": where.patient_id, "collected_at": where.at,
                    "analyte": analyte.value}  # fmt: skip
            key = (where.patient_id, where.at, analyte.value)
            problem = self.labs.put(key, base, "value", float(quantity.value), origins)
            problem = problem or self.labs.put(key, base, "unit", unit, origins)
            self.labs.rows[key].setdefault("loinc", _loinc(code))
        if problem is not None:
            self.problems.append(problem)

    def _lab_unit(
        self, index: int, analyte: Analyte, quantity: Any, element: str, unit: str | None
    ) -> str | None:
        if not unit:
            self._problem(index, element, None, f"no unit: {analyte.value} needs one")
            return None
        store = fm.STORE_UNIT.get(unit, unit) if quantity.system in (None, fm.UCUM_SYSTEM) else unit
        if fold(store) not in UNITS[analyte][1]:
            message = (
                f"unit {unit!r} is not known for {analyte.value} (allowed: "
                f"{', '.join(allowed_units(analyte))}; UCUM: "
                f"{', '.join(sorted(k for k, v in fm.STORE_UNIT.items() if fold(v) in UNITS[analyte][1]))}"
                "). A unit is never guessed"
            )
            self._problem(index, element, unit, message)
            return None
        return store

    def _vital_value(
        self, index: int, column: str, quantity: Any, element: str, unit: str | None
    ) -> float | None:
        vital = fm.VITAL_BY_COLUMN[column]
        code = VITAL_UNIT_ALIASES.get(unit or "", unit)
        if code not in vital.accepted:
            message = (
                f"unit {unit!r} is not known for {vital.code.display} (allowed: "
                f"{', '.join(vital.accepted)}). A unit is never guessed"
            )
            self._problem(index, element, unit, message)
            return None
        value = float(quantity.value)
        if code == "[degF]":
            return fahrenheit_to_celsius(value).value
        return value

    def _problem(self, index: int, element: str | None, value: str | None, message: str) -> None:
        self.problems.append(Problem(index, element, value, message))


def _first_coding(concept: Any) -> tuple[str | None, str | None, str | None]:
    codings = (concept.coding if concept is not None else None) or []
    if not codings:
        return (None, None, concept.text if concept is not None else None)
    first = codings[0]
    return (first.system, first.code, first.display)


def _loinc(concept: Any) -> str | None:
    """The first LOINC code of the concept (stored as the lab's ``loinc``), None without one."""
    for coding in (concept.coding if concept is not None else None) or []:
        if coding.system == fm.LOINC_SYSTEM and coding.code:
            return str(coding.code)
    return None
