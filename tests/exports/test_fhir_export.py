"""The FHIR R4 export (dashboard/exports/fhir_export.py) on a copy of the loaded sample, site S01.

Expected values are read off the shipped sample CSVs (sample_data/cohort) by hand: patient
S01-0001 (female, infused 2024-11-01T10:00) has at 2024-10-27T07:40 ANC 4.73 10^9/L (LOINC
751-8) and creatinine 64 umol/L (no LOINC in the sample), at 2024-10-27T09:00 the vitals 37.2 °C,
HR 73, BP 137/95, SpO2 96 %, RR 16. Her CRS episode: fever 39.0 °C at 2024-11-02T06:10 (grade 1,
onset), BiPAP at 2024-11-03T14:05 (positive pressure: grade 4, criteria.md R-CRS table), resolved.
A shifted time is the true time plus the patient's date shift (dashboard.exports.source).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fhir.resources.R4B.adverseevent import AdverseEvent
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from sqlalchemy import Engine

from dashboard.exports.fhir_export import (
    UTC_ZONE,
    identified_lab_bundle,
    lab_observation,
    write_fhir,
)
from dashboard.exports.fhir_mapping import LAB_LOINC
from dashboard.exports.source import DateMode, ExportRequest, date_shift, export_key
from dashboard.services.cohort_data import CohortFilters
from dashboard.services.deidentify import leaks, pseudonym
from dashboard.store.access import Actor
from dashboard.store.errors import AccessDeniedError
from dashboard.store.unit_of_work import UnitOfWork
from grading.records import Analyte
from tests.sample_accounts import demo

PATIENT = "S01-0001"
COHORT = Path(__file__).resolve().parents[2] / "sample_data" / "cohort"
S01 = ExportRequest(filters=CohortFilters(site_ids=frozenset({"S01"})), dates=DateMode.SHIFTED)
MODELS = {"Patient": Patient, "Observation": Observation, "AdverseEvent": AdverseEvent}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The export's own folder (tmp_path also holds the test's copy of the database)."""
    path = tmp_path / "export"
    path.mkdir()
    return path


def export(engine: Engine, actor: Actor, out: Path) -> dict[str, list[dict[str, Any]]]:
    write_fhir(engine, actor, S01, out)
    return {
        kind: [json.loads(line) for line in (out / f"{kind}.ndjson").read_text().splitlines()]
        for kind in MODELS
    }


def shifted(engine: Engine, actor: Actor, at: str) -> datetime:
    return datetime.fromisoformat(at) + date_shift(PATIENT, export_key(engine, actor))


def fhir_time(at: datetime) -> str:
    return at.isoformat() + "+00:00"  # stored wall-clock times, written in UTC (the default)


def of_patient(
    resources: list[dict[str, Any]], engine: Engine, actor: Actor
) -> list[dict[str, Any]]:
    subject = f"Patient/{pseudonym(PATIENT, export_key(engine, actor))}"
    return [r for r in resources if r["subject"]["reference"] == subject]


def codes(resource: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["system"], c["code"]) for c in resource["code"]["coding"]]


def test_every_line_and_the_bundle_validate_as_r4b_resources(
    sample_engine: Engine, researcher: Actor, folder: Path
) -> None:
    out = export(sample_engine, researcher, folder)
    for kind, resources in out.items():
        for resource in resources:
            assert MODELS[kind].model_validate(resource).get_resource_type() == kind
    site = pd.read_csv(COHORT / "patients.csv").query("site_id == 'S01'")
    assert len(out["Patient"]) == len(site) > 0
    bundle = Bundle.model_validate_json((folder / "bundle.json").read_text())
    assert bundle.type == "collection"
    assert len(bundle.entry) == sum(len(r) for r in out.values())
    manifest = json.loads((folder / "manifest.json").read_text())
    assert "bundle.json" in manifest["files"]
    assert manifest["removed: dates and times"].startswith("shifted back")


def test_the_export_holds_no_study_id_real_date_or_birth_date(
    sample_engine: Engine, researcher: Actor, folder: Path
) -> None:
    out = export(sample_engine, researcher, folder)
    patients = pd.read_csv(COHORT / "patients.csv")
    ids = patients["patient_id"].tolist()
    text = "".join(p.read_text() for p in folder.iterdir())
    assert leaks(text, ids, []) == []
    assert "birthDate" not in text
    assert '"name"' not in text
    true_dates = [datetime.fromisoformat(t) for t in patients["infusion_at"]]
    true_dates += [datetime.fromisoformat(t) for t in patients["lymphodepletion_start_at"].dropna()]
    assert leaks((folder / "Patient.ndjson").read_text(), ids, true_dates) == []
    name = pseudonym(PATIENT, export_key(sample_engine, researcher))
    identifier = [{"system": "urn:cartwatch:pseudonym", "value": name}]
    mine = {"resourceType": "Patient", "id": name, "identifier": identifier, "gender": "female"}
    assert mine in out["Patient"]
    # Every lab time of S01-0001 is her true time moved by her shift (1-364 days): none is true.
    labs = pd.read_csv(COHORT / "labs.csv").query("patient_id == @PATIENT")
    true_times = {fhir_time(datetime.fromisoformat(t)) for t in labs["collected_at"]}
    moved = {fhir_time(shifted(sample_engine, researcher, t)) for t in labs["collected_at"]}
    exported = {
        o["effectiveDateTime"]
        for o in of_patient(out["Observation"], sample_engine, researcher)
        if o["category"][0]["coding"][0]["code"] == "laboratory"
    }
    assert exported == moved
    assert date_shift(PATIENT, export_key(sample_engine, researcher)).days < 0
    assert exported != true_times


def test_a_hand_picked_lab_has_its_loinc_code_and_ucum_quantity(
    sample_engine: Engine, researcher: Actor, folder: Path
) -> None:
    out = export(sample_engine, researcher, folder)
    when = fhir_time(shifted(sample_engine, researcher, "2024-10-27T07:40:00"))
    labs = {
        o["code"]["text"]: o
        for o in of_patient(out["Observation"], sample_engine, researcher)
        if o["effectiveDateTime"] == when
    }
    anc = labs["anc"]
    assert codes(anc) == [("http://loinc.org", "751-8"), ("urn:cartwatch:analyte", "anc")]
    assert anc["valueQuantity"] == {
        "value": 4.73, "unit": "10^9/L", "system": "http://unitsofmeasure.org", "code": "10*9/L",
    }  # fmt: skip
    creatinine = labs["creatinine"]  # no LOINC stored, none in the table: the local code only
    assert codes(creatinine) == [("urn:cartwatch:analyte", "creatinine")]
    assert creatinine["valueQuantity"]["code"] == "umol/L"


def restamp_loinc(engine: Engine, codes_by_analyte: dict[Analyte, str]) -> None:
    """Correct the 2024-10-27T07:40 labs of the patient to carry these stored LOINC codes, as a
    nurse would through the store (or as a CSV import would leave them)."""
    drawn = datetime.fromisoformat("2024-10-27T07:40:00")
    with UnitOfWork(engine, demo(engine, "nurse-s01")) as uow:
        for record in uow.labs.current(PATIENT):
            lab = record.values
            if lab.collected_at == drawn and lab.analyte in codes_by_analyte:
                uow.labs.correct(
                    record.record_id, record.version,
                    lab.model_copy(update={"loinc": codes_by_analyte[lab.analyte]}),
                    "LOINC code from the lab's report",
                )  # fmt: skip
        uow.commit()


def test_a_stored_loinc_code_not_tagged_c_leaves_as_the_local_code_only(
    sample_engine: Engine, researcher: Actor, folder: Path
) -> None:
    # 8116-6 is the [S] CD19 code of criteria.md 8.3 (one list maps it to CD3); 731-0 is the
    # lymphocytes' code stored on a neutrophil result; 731-0 on lymphocytes is the [C] code.
    restamp_loinc(sample_engine, {Analyte.CD19_ABSOLUTE: "8116-6", Analyte.ANC: "731-0",
                                  Analyte.LYMPHOCYTES: "731-0"})  # fmt: skip
    out = export(sample_engine, researcher, folder)
    when = fhir_time(shifted(sample_engine, researcher, "2024-10-27T07:40:00"))
    labs = {
        o["code"]["text"]: o
        for o in of_patient(out["Observation"], sample_engine, researcher)
        if o["effectiveDateTime"] == when
    }
    assert codes(labs["cd19_absolute"]) == [("urn:cartwatch:analyte", "cd19_absolute")]
    assert codes(labs["anc"]) == [("urn:cartwatch:analyte", "anc")]
    assert codes(labs["lymphocytes"]) == [
        ("http://loinc.org", "731-0"), ("urn:cartwatch:analyte", "lymphocytes"),
    ]  # fmt: skip
    every_loinc = {
        c["code"]
        for o in out["Observation"]
        for c in o["code"]["coding"]
        if c["system"] == "http://loinc.org"
        and o["category"][0]["coding"][0]["code"] == "laboratory"
    }
    assert "8116-6" not in every_loinc
    assert every_loinc <= {code.code for code in LAB_LOINC.values()}


def test_the_identified_bundle_drops_an_unconfirmed_loinc_code_too(
    sample_engine: Engine,
) -> None:
    restamp_loinc(sample_engine, {Analyte.CD19_ABSOLUTE: "8116-6"})
    bundle = json.loads(
        identified_lab_bundle(sample_engine, demo(sample_engine, "nurse-s01"), PATIENT)
    )
    cd19 = [
        e["resource"] for e in bundle["entry"][1:]
        if e["resource"]["code"]["text"] == "cd19_absolute"
    ]  # fmt: skip
    assert cd19
    assert all(codes(o) == [("urn:cartwatch:analyte", "cd19_absolute")] for o in cd19)


@pytest.mark.parametrize(
    ("analyte", "stored", "expected"),
    [
        (Analyte.IL6, None, [("http://loinc.org", "26881-3"), ("urn:cartwatch:analyte", "il6")]),
        (Analyte.IL6, "26881-3",
         [("http://loinc.org", "26881-3"), ("urn:cartwatch:analyte", "il6")]),
        (Analyte.IL6, "2276-4", [("urn:cartwatch:analyte", "il6")]),
        (Analyte.CD19_PERCENT, "8117-4", [("urn:cartwatch:analyte", "cd19_percent")]),
        (Analyte.CREATININE, "2160-0", [("urn:cartwatch:analyte", "creatinine")]),
    ],
)  # fmt: skip
def test_a_lab_observation_carries_loinc_only_when_it_is_the_tables_c_code(
    analyte: Analyte, stored: str | None, expected: list[tuple[str, str]]
) -> None:
    observation = lab_observation(
        "Patient/x", datetime(2024, 1, 2, 8), analyte.value, 5.0, "pg/mL", stored, UTC_ZONE
    )
    assert codes(observation) == expected


def test_a_hand_picked_assessment_gives_vital_sign_observations(
    sample_engine: Engine, researcher: Actor, folder: Path
) -> None:
    out = export(sample_engine, researcher, folder)
    when = fhir_time(shifted(sample_engine, researcher, "2024-10-27T09:00:00"))
    vitals = {
        codes(o)[0][1]: o
        for o in of_patient(out["Observation"], sample_engine, researcher)
        if o["effectiveDateTime"] == when and o["category"][0]["coding"][0]["code"] == "vital-signs"
    }
    assert set(vitals) == {"8310-5", "8867-4", "59408-5", "9279-1", "85354-9"}
    assert vitals["8310-5"]["valueQuantity"]["value"] == 37.2
    assert vitals["8310-5"]["valueQuantity"]["code"] == "Cel"
    assert vitals["8867-4"]["valueQuantity"]["value"] == 73
    assert vitals["8867-4"]["valueQuantity"]["code"] == "/min"
    spo2 = [("http://loinc.org", "59408-5"), ("http://loinc.org", "2708-6")]
    assert codes(vitals["59408-5"]) == spo2
    assert vitals["59408-5"]["valueQuantity"]["value"] == 96
    assert vitals["9279-1"]["valueQuantity"]["value"] == 16
    components = {
        c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in vitals["85354-9"]["component"]
    }
    assert components["8480-6"]["value"] == 137
    assert components["8462-4"]["value"] == 95
    assert components["8462-4"]["code"] == "mm[Hg]"


def test_grades_leave_as_local_code_observations_and_not_gradable_is_not_zero(
    sample_engine: Engine, researcher: Actor, folder: Path
) -> None:
    out = export(sample_engine, researcher, folder)
    mine = of_patient(out["Observation"], sample_engine, researcher)

    def grade(at: str, code: str) -> dict[str, Any]:
        when = fhir_time(shifted(sample_engine, researcher, at))
        found = [o for o in mine if o["effectiveDateTime"] == when and codes(o)[0][1] == code]
        assert len(found) == 1
        return found[0]

    local = [("urn:cartwatch:astct", "crs-grade")]
    assert codes(grade("2024-11-03T14:05:00", "crs-grade")) == local
    assert grade("2024-11-03T14:05:00", "crs-grade")["valueInteger"] == 4  # BiPAP: grade 4
    # 2024-11-01T18:05: afebrile, no hypotension, room air: CRS 0; no ICE recorded: not gradable.
    assert grade("2024-11-01T18:05:00", "crs-grade")["valueInteger"] == 0
    icans = grade("2024-11-01T18:05:00", "icans-grade")
    assert "valueInteger" not in icans
    assert icans["dataAbsentReason"]["coding"][0]["code"] == "unknown"


def test_the_crs_episode_is_an_adverse_event_with_its_astct_grade(
    sample_engine: Engine, researcher: Actor, folder: Path
) -> None:
    out = export(sample_engine, researcher, folder)
    events = of_patient(out["AdverseEvent"], sample_engine, researcher)
    crs = [e for e in events if e["event"]["coding"][0]["code"] == "crs"]
    assert len(crs) == 1
    event = crs[0]
    extensions = {e["url"]: next(v for k, v in e.items() if k != "url") for e in event["extension"]}
    assert extensions["urn:cartwatch:extension:astct-grade"] == 4
    assert extensions["urn:cartwatch:extension:episode"] == 1
    assert extensions["urn:cartwatch:extension:peak-at"] == fhir_time(
        shifted(sample_engine, researcher, "2024-11-03T14:05:00")
    )
    assert event["date"] == fhir_time(shifted(sample_engine, researcher, "2024-11-02T06:10:00"))
    assert event["severity"]["coding"][0]["code"] == "severe"  # grade 4: severe (no R4 code)
    assert event["outcome"]["coding"][0]["code"] == "resolved"
    assert event["suspectEntity"] == [{"instance": {"display": "cd19_car_t"}}]


def test_study_day_dates_are_refused_for_fhir(
    sample_engine: Engine, researcher: Actor, folder: Path
) -> None:
    with pytest.raises(ValueError, match="shifted dates"):
        write_fhir(sample_engine, researcher, ExportRequest(), folder)
    assert list(folder.iterdir()) == []


def test_a_nurse_cannot_run_the_research_export(sample_engine: Engine, folder: Path) -> None:
    with pytest.raises(AccessDeniedError):
        write_fhir(sample_engine, demo(sample_engine, "nurse-s01"), S01, folder)


def test_the_identified_bundle_is_for_the_patients_site_staff_only(
    sample_engine: Engine, researcher: Actor
) -> None:
    bundle = json.loads(
        identified_lab_bundle(sample_engine, demo(sample_engine, "nurse-s01"), PATIENT)
    )
    patient = bundle["entry"][0]["resource"]
    assert patient["identifier"] == [{"system": "urn:cartwatch:study-id", "value": PATIENT}]
    labs = len(pd.read_csv(COHORT / "labs.csv").query("patient_id == @PATIENT"))
    assert len(bundle["entry"]) == 1 + labs
    for actor in (researcher, demo(sample_engine, "nurse-s02"), demo(sample_engine, "admin")):
        with pytest.raises(AccessDeniedError):
            identified_lab_bundle(sample_engine, actor, PATIENT)
