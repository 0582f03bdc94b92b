"""The FHIR Bundle import (dashboard/services/fhir_import.py) on a copy of the loaded sample, and
the round trip from the FHIR exports (dashboard/exports/fhir_export.py) into a fresh database.

The hand-built bundle is what an EHR of site S01 might send for patient S01-0001: her Patient with
a hospital record number and the trial's subject id, lab results by LOINC, by cartwatch's local
analyte code and by a hospital code, vital signs, and what is not imported (an unmapped glucose,
a CRP not performed, a preliminary ANC, a Condition). The EHR writes times in UTC; the site is in
Europe/Berlin (UTC+1 in December), so 06:31:17Z is stored as the wall-clock time 07:31:17.

100.4 °F is exactly 38.0 °C (fever, R-CRS-1) and 100.39 °F gives 37.99 °C: the conversion rounds
down to 0.01 °C as the form does (grading.units.fahrenheit_to_celsius), never across the fever
cut-point upwards.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from dashboard.csv_contract import Problem
from dashboard.exports.fhir_export import identified_lab_bundle, write_fhir
from dashboard.exports.source import DateMode, ExportRequest, date_shift, export_key
from dashboard.services.calculator import fahrenheit_to_celsius
from dashboard.services.cohort_data import CohortFilters
from dashboard.services.deidentify import pseudonym
from dashboard.services.fhir_import import (
    FhirImportReport,
    PatientMap,
    UnmappedCode,
    import_fhir_bundle,
    mapping_table,
)
from dashboard.store.access import SYSTEM, Actor, Role
from dashboard.store.database import open_database
from dashboard.store.errors import AccessDeniedError
from dashboard.store.importer import ImportRejectedError
from dashboard.store.schema import AssessmentRow, AuditEntry, LabResultRow
from dashboard.store.unit_of_work import UnitOfWork
from grading.records import Patient
from tests.sample_accounts import demo

PATIENT = "S01-0001"
COHORT = Path(__file__).resolve().parents[2] / "sample_data" / "cohort"
ZONE = "Europe/Berlin"
TRIAL = "https://ehr.example.org/fhir/sid/trial-subject"
MRN = "https://ehr.example.org/fhir/sid/mrn"
LOCAL_LAB = "https://ehr.example.org/fhir/CodeSystem/lab"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
LOCAL_CODES = {f"{LOCAL_LAB}|FERR": "ferritin"}
GLUCOSE = "Glucose [Mass/volume] in Serum or Plasma"
VITALS = (
    "temperature_c", "heart_rate_bpm", "systolic_bp_mmhg", "diastolic_bp_mmhg", "spo2_pct",
    "respiratory_rate_min",
)  # fmt: skip


# -- the hand-built bundle ------------------------------------------------------------------------
def quantity(value: float, code: str) -> dict[str, Any]:
    return {"value": value, "unit": code, "system": UCUM, "code": code}


def observation(
    system: str, code: str, when: str, value: dict[str, Any] | None = None, *,
    status: str = "final", subject: dict[str, Any] | None = None, display: str | None = None,
    **extra: Any,
) -> dict[str, Any]:  # fmt: skip
    coding = {"system": system, "code": code} | ({"display": display} if display else {})
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": status,
        "code": {"coding": [coding]},
        "subject": subject or {"reference": "Patient/ehr-1"},
        "effectiveDateTime": when,
    }
    if value is not None:
        resource["valueQuantity"] = value
    return {"resource": resource | extra}


LAB_AT = "2024-12-02T06:31:17Z"  # 07:31:17 in Berlin
ENTRIES: list[dict[str, Any]] = [
    {  # 0
        "fullUrl": "https://ehr.example.org/fhir/Patient/ehr-1",
        "resource": {
            "resourceType": "Patient",
            "id": "ehr-1",
            "identifier": [{"system": MRN, "value": "MRN-884213"},
                           {"system": TRIAL, "value": PATIENT}],
        },
    },
    observation(LOINC, "751-8", LAB_AT, quantity(1.23, "10*9/L")),  # 1 ANC
    observation("urn:cartwatch:analyte", "creatinine", LAB_AT, quantity(88.4, "umol/L")),  # 2
    observation(LOCAL_LAB, "FERR", LAB_AT, quantity(512, "ug/L")),  # 3: the hospital's code
    observation(LOINC, "8310-5", "2024-12-02T08:05:00-05:00", quantity(37.9, "Cel")),  # 4
    observation(LOINC, "8867-4", "2024-12-02T08:05:00-05:00", quantity(112, "/min")),  # 5
    observation(LOINC, "59408-5", "2024-12-02T08:05:00-05:00", quantity(94, "%")),  # 6
    observation(LOINC, "8310-5", "2024-12-03T05:00:00Z", quantity(100.39, "[degF]")),  # 7
    observation(LOINC, "8310-5", "2024-12-04T05:00:00Z", quantity(100.4, "[degF]")),  # 8
    observation(LOINC, "2345-7", LAB_AT, quantity(97, "mg/dL"), display=GLUCOSE),  # 9
    observation(LOINC, "2345-7", "2024-12-03T05:00:00Z", quantity(101, "mg/dL"),
                display=GLUCOSE),  # 10
    observation(LOINC, "1988-5", LAB_AT, dataAbsentReason={"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
        "code": "not-performed"}]}),  # 11: CRP not performed
    observation(LOINC, "751-8", "2024-12-03T05:00:00Z", quantity(0.2, "10*9/L"),
                status="preliminary"),  # 12
    {"resource": {"resourceType": "Condition", "subject": {"reference": "Patient/ehr-1"}}},  # 13
]  # fmt: skip
#: What S01-0001 must hold afterwards from this bundle (Berlin wall-clock times).
LABS = [
    ("anc", 1.23, "10^9/L", "751-8", datetime(2024, 12, 2, 7, 31, 17)),
    ("creatinine", 88.4, "umol/L", None, datetime(2024, 12, 2, 7, 31, 17)),
    ("ferritin", 512.0, "ug/L", None, datetime(2024, 12, 2, 7, 31, 17)),
]
ASSESSMENTS = [  # observed_at, then VITALS
    (datetime(2024, 12, 2, 14, 5), 37.9, 112.0, None, None, 94.0, None),
    (datetime(2024, 12, 3, 6, 0), 37.99, None, None, None, None, None),
    (datetime(2024, 12, 4, 6, 0), 38.0, None, None, None, None, None),
]


def bundle(*entries: dict[str, Any], kind: str = "collection") -> str:
    return json.dumps({"resourceType": "Bundle", "type": kind, "entry": list(entries)})


def run(engine: Engine, actor: Actor, text: str, **options: Any) -> FhirImportReport:
    options = {"site_timezone": ZONE, "local_codes": LOCAL_CODES} | options
    patients = options.pop("patients", PatientMap(identifier_system=TRIAL))
    return import_fhir_bundle(engine, actor, text, patients, **options)


# -- reading back ---------------------------------------------------------------------------------
def counts(engine: Engine) -> tuple[int, int, int]:
    with UnitOfWork(engine, SYSTEM, read_only=True) as uow:
        return tuple(  # type: ignore[return-value]
            int(uow.session.execute(select(func.count()).select_from(t)).scalar_one())
            for t in (LabResultRow, AssessmentRow, AuditEntry)
        )


def labs_from(engine: Engine, actor: Actor, patient_id: str, source: str | None = None) -> list[
    tuple[str, float, str, str | None, datetime]
]:  # fmt: skip
    with UnitOfWork(engine, actor, read_only=True) as uow:
        stored = uow.labs.current(patient_id)
    return sorted(
        (s.values.analyte.value, s.values.value, s.values.unit, s.values.loinc,
         s.values.collected_at)
        for s in stored
        if source is None or s.source == source
    )  # fmt: skip


def vitals_from(
    engine: Engine, actor: Actor, patient_id: str, source: str | None = None
) -> list[tuple[Any, ...]]:
    with UnitOfWork(engine, actor, read_only=True) as uow:
        stored = uow.assessments.current(patient_id)
    return [
        (s.values.observed_at, *(getattr(s.values, column) for column in VITALS))
        for s in stored
        if source is None or s.source == source
    ]


def where(problems: list[Problem]) -> list[tuple[int | None, str | None, str | None]]:
    return [(p.row, p.column, p.value) for p in problems]


# -- the import -----------------------------------------------------------------------------------
def test_a_bundle_stores_exactly_the_values_and_site_times_it_sent(sample_engine: Engine) -> None:
    nurse = demo(sample_engine, "nurse-s01")
    before = counts(sample_engine)
    report = run(sample_engine, nurse, bundle(*ENTRIES))
    assert (report.entries, report.observations) == (14, 12)
    assert report.labs is not None
    assert report.vitals is not None
    assert (report.labs.rows, report.labs.stored, report.labs.skipped) == (3, 3, 0)
    assert (report.vitals.rows, report.vitals.stored, report.vitals.skipped) == (3, 3, 0)
    assert report.stored == 6
    assert report.unmapped == (UnmappedCode(LOINC, "2345-7", GLUCOSE, 2),)
    assert report.not_imported == (
        ("no value (data absent)", 1),
        ("resource type Condition", 1),
        ("status preliminary (only final, amended, corrected)", 1),
    )
    assert labs_from(sample_engine, nurse, PATIENT, report.labs.source) == LABS
    assert vitals_from(sample_engine, nurse, PATIENT, report.vitals.source) == ASSESSMENTS
    # Exactly these rows and nothing else: no CRP (not performed), no glucose, no preliminary ANC.
    after = counts(sample_engine)
    assert (after[0] - before[0], after[1] - before[1]) == (3, 3)
    assert all(lab[4] != datetime(2024, 12, 3, 6, 0) for lab in labs_from(sample_engine, nurse,
                                                                          PATIENT))  # fmt: skip


def test_fahrenheit_is_converted_as_the_form_converts_it_on_both_sides_of_fever() -> None:
    # The golden values of ASSESSMENTS above are the form's own conversion.
    assert fahrenheit_to_celsius(100.39) == 37.99 < 38.0
    assert fahrenheit_to_celsius(100.4) == 38.0


def test_a_vitals_only_assessment_is_not_gradable_never_normal(sample_engine: Engine) -> None:
    nurse = demo(sample_engine, "nurse-s01")
    report = run(sample_engine, nurse, bundle(*ENTRIES))
    assert report.vitals is not None
    with UnitOfWork(sample_engine, nurse, read_only=True) as uow:
        stored = [s.values for s in uow.assessments.current(PATIENT)
                  if s.source == report.vitals.source]  # fmt: skip
    assert [(a.ice_score, a.oxygen_device, a.hypotension) for a in stored] == [(None,) * 3] * 3


def test_the_mapping_table_holds_loinc_local_analyte_and_site_codes() -> None:
    table = mapping_table(LOCAL_CODES)
    assert table[f"{LOINC}|751-8"] == "anc"
    assert table["urn:cartwatch:analyte|creatinine"] == "creatinine"
    assert table[f"{LOCAL_LAB}|FERR"] == "ferritin"
    assert table[f"{LOINC}|2708-6"] == table[f"{LOINC}|59408-5"] == "spo2_pct"
    assert f"{LOINC}|2345-7" not in table
    with pytest.raises(ValueError, match="neither an analyte nor a vital sign"):
        mapping_table({f"{LOCAL_LAB}|GLU": "glucose"})
    with pytest.raises(ValueError, match="system\\|code"):
        mapping_table({"FERR": "ferritin"})


def test_without_the_site_mapping_the_hospital_code_is_reported_unmapped(
    sample_engine: Engine,
) -> None:
    report = run(sample_engine, demo(sample_engine, "nurse-s01"), bundle(*ENTRIES), local_codes={})
    assert report.labs is not None
    assert report.labs.stored == 2
    assert report.unmapped == (
        UnmappedCode(LOINC, "2345-7", GLUCOSE, 2),
        UnmappedCode(LOCAL_LAB, "FERR", None, 1),
    )


# -- problems: entry index and FHIR element, and nothing stored -----------------------------------
BAD_AT = "2024-12-05T05:00:00Z"
BAD: list[tuple[dict[str, Any], tuple[str, str | None], str]] = [
    (observation(LOINC, "751-8", BAD_AT, quantity(1.1, "g/L")),
     ("valueQuantity.code", "g/L"), "unit 'g/L' is not known for anc"),
    (observation(LOINC, "8310-5", BAD_AT, quantity(311, "K")),
     ("valueQuantity.code", "K"), "unit 'K' is not known for Body temperature"),
    (observation(LOINC, "751-8", BAD_AT, quantity(5, "10*9/L") | {"comparator": "<"}),
     ("valueQuantity.comparator", "<"), "cannot be stored as a number"),
    (observation(LOINC, "751-8", "2024-12-05", quantity(1.1, "10*9/L")),
     ("effectiveDateTime", "2024-12-05"), "a time of day is needed"),
    (observation(LOINC, "751-8", BAD_AT, quantity(1.1, "10*9/L"),
                 subject={"reference": "Patient/nobody"}),
     ("subject", "Patient/nobody"), "cannot be resolved to a study id"),
    (observation(LOINC, "751-8", BAD_AT, quantity(1.1, "10*9/L"),
                 subject={"identifier": {"system": TRIAL, "value": "S01-9999"}}),
     ("subject", "S01-9999"), "no patient with this id"),
    (observation(LOINC, "751-8", BAD_AT, valueString="low"),
     ("valueString", None), "needs valueQuantity"),
    (observation(LOINC, "751-8", BAD_AT, quantity(-1, "10*9/L")),
     ("valueQuantity.value", "-1"), "greater than or equal to 0"),
    (observation(LOINC, "8310-5", BAD_AT, quantity(45.1, "Cel")),
     ("valueQuantity.value", "45.1"), "outside the plausible range 25.0-45.0"),
    # ANC of S01-0001 stored at 2024-10-27T07:40 (Berlin, UTC+1 that day) as 4.73: never overwritten
    (observation(LOINC, "751-8", "2024-10-27T06:40:00Z", quantity(5.0, "10*9/L")),
     ("valueQuantity.value", "5.0"), "already exists with other values"),
]  # fmt: skip


@pytest.mark.parametrize(("bad", "expected", "reason"), BAD, ids=[b[2][:30] for b in BAD])
def test_one_bad_entry_names_its_index_and_element_and_stores_nothing(
    sample_engine: Engine, bad: dict[str, Any], expected: tuple[str, str | None], reason: str
) -> None:
    nurse = demo(sample_engine, "nurse-s01")  # signing in is audited: before the counts
    before = counts(sample_engine)
    with pytest.raises(ImportRejectedError) as caught:
        run(sample_engine, nurse, bundle(*ENTRIES, bad))
    assert where(caught.value.problems) == [(len(ENTRIES), *expected)]
    assert reason in caught.value.problems[0].message
    assert counts(sample_engine) == before


def test_every_bad_entry_is_reported_at_once_in_entry_order(sample_engine: Engine) -> None:
    nurse = demo(sample_engine, "nurse-s01")
    before = counts(sample_engine)
    bad = [entry for entry, _, _ in BAD[:4]]
    with pytest.raises(ImportRejectedError) as caught:
        run(sample_engine, nurse, bundle(*bad, *ENTRIES))
    assert where(caught.value.problems) == [
        (0, "valueQuantity.code", "g/L"),
        (1, "valueQuantity.code", "K"),
        (2, "valueQuantity.comparator", "<"),
        (3, "effectiveDateTime", "2024-12-05"),
    ]
    assert counts(sample_engine) == before


def test_two_values_for_one_vital_at_one_time_are_a_problem(sample_engine: Engine) -> None:
    second = observation(LOINC, "8310-5", "2024-12-02T13:05:00Z", quantity(38.4, "Cel"))
    with pytest.raises(ImportRejectedError) as caught:
        run(sample_engine, demo(sample_engine, "nurse-s01"), bundle(*ENTRIES, second))
    assert where(caught.value.problems) == [(len(ENTRIES), "valueQuantity.value", "38.4")]
    assert "entry 4 gives 37.9" in caught.value.problems[0].message


def test_vitals_at_the_time_of_a_recorded_assessment_name_the_columns_that_differ(
    sample_engine: Engine,
) -> None:
    # S01-0001's assessment at 2024-10-27T09:00 (Berlin: 08:00Z) holds 37.2 °C and much more.
    same = observation(LOINC, "8310-5", "2024-10-27T08:00:00Z", quantity(37.2, "Cel"))
    with pytest.raises(ImportRejectedError) as caught:
        run(sample_engine, demo(sample_engine, "nurse-s01"), bundle(ENTRIES[0], same))
    problems = caught.value.problems
    assert {p.row for p in problems} == {1}
    assert any(p.message.startswith("cartwatch column ice_score (not in this bundle)")
               and "(stored: 10)" in p.message for p in problems)  # fmt: skip
    assert not any("temperature_c" in p.message for p in problems)  # the same value


def test_a_document_that_is_not_a_bundle_is_refused(sample_engine: Engine) -> None:
    nurse = demo(sample_engine, "nurse-s01")
    for text, message in [
        ("{", "not a JSON document"),
        ('{"resourceType": "Patient"}', "not a FHIR Bundle"),
        (bundle(*ENTRIES, kind="document"), "Bundle.type 'document'"),
    ]:
        with pytest.raises(ImportRejectedError) as caught:
            run(sample_engine, nurse, text)
        assert where(caught.value.problems) == [(None, None, None)]
        assert message in caught.value.problems[0].message


# -- patients, access, repetition -----------------------------------------------------------------
def test_the_patient_resolves_by_map_by_identifier_or_is_a_problem(sample_engine: Engine) -> None:
    nurse = demo(sample_engine, "nurse-s01")
    anc = observation(LOINC, "751-8", LAB_AT, quantity(1.23, "10*9/L"))
    by_map = PatientMap(identifier_system="urn:none", references={"Patient/ehr-1": PATIENT})
    report = run(sample_engine, nurse, bundle(anc), patients=by_map)
    assert report.labs is not None
    assert report.labs.stored == 1
    assert labs_from(sample_engine, nurse, PATIENT, report.labs.source) == LABS[:1]
    # The record number is not a study id; a Patient without the system's identifier says so.
    with pytest.raises(ImportRejectedError) as caught:
        run(sample_engine, nurse, bundle(*ENTRIES[:2]), patients=PatientMap(identifier_system=MRN))
    assert where(caught.value.problems) == [(1, "subject", "MRN-884213")]
    with pytest.raises(ImportRejectedError) as caught:
        run(sample_engine, nurse, bundle(*ENTRIES[:2]), patients=PatientMap("urn:none"))
    assert where(caught.value.problems) == [(1, "subject", "Patient/ehr-1")]
    assert "has no identifier with system urn:none" in caught.value.problems[0].message


def test_re_importing_the_same_bundle_stores_nothing_twice(sample_engine: Engine) -> None:
    nurse = demo(sample_engine, "nurse-s01")
    first = run(sample_engine, nurse, bundle(*ENTRIES))
    after_first = counts(sample_engine)
    again = run(sample_engine, nurse, bundle(*ENTRIES))
    assert again.labs is not None
    assert again.vitals is not None
    assert (again.labs.stored, again.labs.skipped) == (0, 3)
    assert (again.vitals.stored, again.vitals.skipped) == (0, 3)
    assert again.stored == 0
    assert counts(sample_engine) == after_first  # no record, no audit entry
    assert again.sha256 == first.sha256


def test_a_nurse_of_another_site_is_refused_for_each_result_and_assessment(
    sample_engine: Engine,
) -> None:
    nurse = demo(sample_engine, "nurse-s02")
    before = counts(sample_engine)
    with pytest.raises(ImportRejectedError) as caught:
        run(sample_engine, nurse, bundle(*ENTRIES))
    # One problem per row it would store: three labs, and three assessments, each named by the
    # first entry of its time (the vital signs of entries 4-6 make one assessment).
    assert where(caught.value.problems) == [(i, "subject", PATIENT) for i in (1, 2, 3, 4, 7, 8)]
    assert "no patient with this id at nurse-s02's sites (S02)" in caught.value.problems[0].message
    assert counts(sample_engine) == before


def test_researchers_and_administrators_cannot_import(sample_engine: Engine) -> None:
    actors = [demo(sample_engine, "researcher"), demo(sample_engine, "admin")]
    before = counts(sample_engine)
    for actor in actors:
        with pytest.raises(AccessDeniedError, match="only nurse or physician accounts"):
            run(sample_engine, actor, bundle(*ENTRIES))
    assert counts(sample_engine) == before


def test_a_physician_of_the_site_may_import(sample_engine: Engine) -> None:
    report = run(sample_engine, demo(sample_engine, "physician-s01"), bundle(*ENTRIES))
    assert report.stored == 6


# -- round trips ----------------------------------------------------------------------------------
def fresh_database(path: Path, patient: Patient) -> tuple[Engine, Actor]:
    """A new database with site S01, a nurse there and ``patient`` enrolled."""
    engine = open_database(f"sqlite+pysqlite:///{path}")
    with UnitOfWork(engine, SYSTEM) as uow:
        uow.people.add_site("S01", "Site one")
        nurse = uow.people.add_user("nurse-new", Role.NURSE, "nurse-new-password", ["S01"])
        uow.commit()
    with UnitOfWork(engine, nurse) as uow:
        uow.patients.add(patient)
        uow.commit()
    return engine, nurse


def source_patient(engine: Engine) -> Patient:
    with UnitOfWork(engine, demo(engine, "nurse-s01"), read_only=True) as uow:
        return uow.patients.get(PATIENT)


def test_round_trip_identified_lab_bundle_gives_the_same_lab_results(
    sample_engine: Engine, tmp_path: Path
) -> None:
    nurse = demo(sample_engine, "nurse-s01")
    text = identified_lab_bundle(sample_engine, nurse, PATIENT)
    source = labs_from(sample_engine, nurse, PATIENT)
    assert len(source) == len(pd.read_csv(COHORT / "labs.csv").query("patient_id == @PATIENT"))
    engine, new_nurse = fresh_database(tmp_path / "fresh.db", source_patient(sample_engine))
    try:
        report = import_fhir_bundle(engine, new_nurse, text)  # study-id system, UTC: the defaults
        assert report.labs is not None
        assert (report.labs.stored, report.vitals, report.unmapped) == (len(source), None, ())
        assert labs_from(engine, new_nurse, PATIENT) == source  # analyte, value, unit, LOINC, time
    finally:
        engine.dispose()


def test_round_trip_research_export_gives_the_same_values_at_the_shifted_times(
    sample_engine: Engine, researcher: Actor, tmp_path: Path
) -> None:
    request = ExportRequest(
        filters=CohortFilters(site_ids=frozenset({"S01"})), dates=DateMode.SHIFTED
    )
    out = tmp_path / "out"
    write_fhir(sample_engine, researcher, request, out)
    key = export_key(sample_engine, researcher)
    name, shift = pseudonym(PATIENT, key), date_shift(PATIENT, key)
    resources = [
        json.loads(line)
        for kind in ("Patient", "Observation")
        for line in (out / f"{kind}.ndjson").read_text().splitlines()
    ]
    mine = [
        r for r in resources
        if r.get("id") == name or r.get("subject", {}).get("reference") == f"Patient/{name}"
    ]  # fmt: skip
    text = bundle(*({"resource": r} for r in mine))

    nurse = demo(sample_engine, "nurse-s01")
    labs = [(a, v, u, loinc, at + shift) for a, v, u, loinc, at in
            labs_from(sample_engine, nurse, PATIENT)]  # fmt: skip
    vitals = [
        (row[0] + shift, *row[1:])
        for row in vitals_from(sample_engine, nurse, PATIENT)
        if any(value is not None for value in row[1:])
    ]
    original = source_patient(sample_engine)
    patient = original.model_copy(update={
        "patient_id": name, "infusion_at": original.infusion_at + shift,
        "lymphodepletion_start_at": None, "date_of_birth": None,
    })  # fmt: skip
    engine, new_nurse = fresh_database(tmp_path / "fresh.db", patient)
    try:
        report = import_fhir_bundle(
            engine, new_nurse, text, PatientMap(identifier_system="urn:cartwatch:pseudonym")
        )
        assert report.labs is not None
        assert report.vitals is not None
        assert (report.labs.stored, report.vitals.stored) == (len(labs), len(vitals))
        assert labs_from(engine, new_nurse, name) == labs
        assert vitals_from(engine, new_nurse, name) == vitals
        # The ASTCT grades have no LOINC code and are not inputs: reported, skipped.
        assert {(u.system, u.code) for u in report.unmapped} == {
            ("urn:cartwatch:astct", "crs-grade"), ("urn:cartwatch:astct", "icans-grade"),
        }  # fmt: skip
    finally:
        engine.dispose()
