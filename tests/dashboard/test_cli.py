"""`cartwatch grade` and `cartwatch docs` on good and bad files."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from dashboard.cli import main
from dashboard.store.access import SYSTEM
from dashboard.store.schema import LabResultRow
from dashboard.store.unit_of_work import UnitOfWork
from tests.sample_accounts import demo

ROOT = Path(__file__).resolve().parents[2]
HEADER = (
    "patient_id,observed_at,age_years,temperature_c,antipyretic_or_anticytokine_given,"
    "hypotension,oxygen_device,oxygen_l_min,ice_score,capd_score,consciousness,seizure,"
    "motor_weakness,cerebral_edema"
)
FEBRILE_PRESSOR = "P1,2026-03-01T08:00:00,40,39.0,false,one_vasopressor,low_flow_nasal_cannula,4,10,,alert,none,none,none"  # noqa: E501
BLANK = "P2,2026-03-01T09:00:00,,,,,,,,,,,,"


def write(tmp_path: Path, *lines: str, name: str = "in.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_grade_writes_every_input_column_then_the_outputs(tmp_path: Path) -> None:
    source = write(tmp_path, HEADER, FEBRILE_PRESSOR, BLANK)
    target = tmp_path / "out.csv"
    assert main(["grade", str(source), "-o", str(target)]) == 0
    text = target.read_text(encoding="utf-8")
    header = text.splitlines()[0].split(",")
    assert header == [
        *HEADER.split(","),
        "crs_grade",
        "icans_grade",
        "crs_status",
        "icans_status",
        "crs_reason",
        "icans_reason",
        "tocilizumab_indicated",
        "steroids_indicated",
        "icu_indicated",
        "missing",
    ]
    first, second = rows(text)
    assert first["temperature_c"] == "39.0"  # input cells are written back as given
    assert (first["crs_grade"], first["crs_status"]) == ("3", "graded")
    assert "CRS-HYPOTENSION-3" in first["crs_reason"]
    assert (first["icans_grade"], first["icans_status"]) == ("0", "no_toxicity")
    assert (
        first["tocilizumab_indicated"],
        first["steroids_indicated"],
        first["icu_indicated"],
    ) == ("true", "true", "true")
    assert first["missing"] == ""
    assert (second["crs_grade"], second["crs_status"]) == ("", "not_gradable")
    assert second["missing"].split(";")[:2] == [
        "temperature_c",
        "antipyretic_or_anticytokine_given",
    ]


def test_grade_reads_stdin_and_writes_stdout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{HEADER}\n{FEBRILE_PRESSOR}\n"))
    assert main(["grade", "-"]) == 0
    (row,) = rows(capsys.readouterr().out)
    assert row["crs_grade"] == "3"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            FEBRILE_PRESSOR.replace("39.0", "101.3"),
            "row 3, column temperature_c, value '101.3': 101.3 is outside the plausible range",
        ),
        (
            FEBRILE_PRESSOR.replace("one_vasopressor", "norepinephrine"),
            "row 3, column hypotension, value 'norepinephrine': Input should be 'none'",
        ),
        (
            FEBRILE_PRESSOR.replace("false", "no"),
            "row 3, column antipyretic_or_anticytokine_given, value 'no': must be true or false",
        ),
        (
            FEBRILE_PRESSOR.replace(",10,", ",ten,"),
            "row 3, column ice_score, value 'ten': must be a number",
        ),
        (
            FEBRILE_PRESSOR.replace("low_flow_nasal_cannula,4", "room_air,4"),
            "row 3, column oxygen_l_min, value '4': Room air with an oxygen flow of 4.0 L/min",
        ),
        (
            FEBRILE_PRESSOR.replace(",10,,alert", ",7,,unarousable"),
            "row 3, column ice_score, value '7': An unarousable patient cannot perform ICE",
        ),
    ],
)
def test_bad_cell_exits_2_naming_row_column_value_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, expected: str
) -> None:
    source = write(tmp_path, HEADER, FEBRILE_PRESSOR, line)
    target = tmp_path / "out.csv"
    assert main(["grade", str(source), "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert "row 2" not in err  # the good first data row (spreadsheet row 2) is not named
    assert not target.exists()


def test_every_problem_is_reported_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = FEBRILE_PRESSOR.replace("39.0", "99").replace("one_vasopressor", "two")
    source = write(tmp_path, HEADER, bad, bad.replace("P1", "P3"))
    assert main(["grade", str(source)]) == 2
    err = capsys.readouterr().err
    assert "4 problem(s)" in err
    for row in (2, 3):
        assert f"row {row}, column temperature_c" in err
        assert f"row {row}, column hypotension" in err


def test_unknown_column_is_an_error_so_a_typo_never_drops_a_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path, HEADER.replace("seizure", "siezure"), FEBRILE_PRESSOR)
    assert main(["grade", str(source)]) == 2
    err = capsys.readouterr().err
    assert "row 1, column siezure: unknown column" in err


def test_missing_required_column_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path, "patient_id,temperature_c", "P1,38.5")
    assert main(["grade", str(source)]) == 2
    assert "column observed_at: required column is missing" in capsys.readouterr().err


def test_optional_columns_may_be_left_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path, "patient_id,observed_at,temperature_c", "P1,2026-03-01T08:00,38.5")
    assert main(["grade", str(source)]) == 0
    (row,) = rows(capsys.readouterr().out)
    assert row["crs_status"] == "not_gradable"
    assert row["crs_reason"].startswith("not gradable, at least grade 1")


def test_site_policy_file_changes_the_open_question(tmp_path: Path) -> None:
    from grading import ASCO_2021, GradingPolicy

    masked_no_findings = "P1,2026-03-01T08:00,40,37.0,true,none,room_air,,10,,alert,none,none,none"
    source = write(tmp_path, HEADER, masked_no_findings)
    policy = ASCO_2021.model_copy(
        update={"grading": GradingPolicy(masked_without_findings="grade_1")}
    )
    policy_file = tmp_path / "sop.json"
    policy_file.write_text(policy.model_dump_json(), encoding="utf-8")
    default_out, site_out = tmp_path / "default.csv", tmp_path / "site.csv"
    assert main(["grade", str(source), "-o", str(default_out)]) == 0
    assert main(["grade", str(source), "-o", str(site_out), "--policy", str(policy_file)]) == 0
    assert rows(default_out.read_text())[0]["crs_status"] == "not_gradable"
    assert rows(site_out.read_text())[0]["crs_grade"] == "1"


def test_invalid_policy_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy_file = write(tmp_path, '{"name": "x"}', name="sop.json")
    source = write(tmp_path, HEADER, FEBRILE_PRESSOR)
    assert main(["grade", str(source), "--policy", str(policy_file)]) == 2
    assert "escalation" in capsys.readouterr().err


def test_sample_file_grades_through_the_installed_console_script(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "cartwatch"
    done = subprocess.run(
        [str(script), "grade", str(ROOT / "sample_data" / "assessments_example.csv")],
        capture_output=True,
        text=True,
        check=True,
    )
    graded = rows(done.stdout)
    assert len(graded) == 12
    # SSC-002 at 6.5 L/min on a "low-flow" cannula is high-flow by ASTCT: grade 3.
    assert graded[6]["oxygen_l_min"] == "6.5"
    assert graded[6]["crs_grade"] == "3"


def test_review_sheets_are_up_to_date() -> None:
    """Fails when a rule table changed without `cartwatch docs` (the sheets clinicians review)."""
    assert main(["docs", "--check", "--dir", str(ROOT / "docs" / "criteria")]) == 0


def test_docs_check_reports_a_stale_sheet(tmp_path: Path) -> None:
    assert main(["docs", "--dir", str(tmp_path)]) == 0
    sheet = tmp_path / "crs_astct_2019.md"
    sheet.write_text(sheet.read_text().replace("≤6 L/min", "<6 L/min"), encoding="utf-8")
    assert main(["docs", "--check", "--dir", str(tmp_path)]) == 1


# --- Course commands: grade --drugs and episodes -----------------------------------------------

COURSE_HEADER = (
    "patient_id,observed_at,age_years,temperature_c,hypotension,oxygen_device,oxygen_l_min,"
    "ice_score,consciousness,seizure,motor_weakness,cerebral_edema"
)
COURSE_ROWS = (
    "P1,2026-03-01T08:00:00,40,38.6,none,room_air,,10,alert,none,none,none",
    "P1,2026-03-01T14:00:00,40,37.0,one_vasopressor,room_air,,10,alert,none,none,none",
    "P1,2026-03-02T14:00:00,40,36.9,none,room_air,,10,alert,none,none,none",
    "P1,2026-03-03T14:00:00,40,36.8,none,room_air,,10,alert,none,none,none",
)
DRUGS = (
    "patient_id,given_at,drug,dose,dose_unit,route",
    "P1,2026-03-01T09:00:00,tocilizumab,560,mg,iv",
    "P1,2026-03-01T10:00:00,dexamethasone,10,mg,iv",
)


def test_grade_with_a_drug_log_derives_masking_and_grades_the_afebrile_pressor_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path, COURSE_HEADER, *COURSE_ROWS)
    drugs = write(tmp_path, *DRUGS, name="drugs.csv")
    assert main(["grade", str(source), "--drugs", str(drugs)]) == 0
    graded = rows(capsys.readouterr().out)
    assert [r["antipyretic_or_anticytokine_given"] for r in graded] == [
        "false", "true", "false", "false"
    ]  # fmt: skip
    assert [r["crs_grade"] for r in graded] == ["1", "3", "0", "0"]


def test_without_the_drug_log_the_same_afebrile_pressor_row_is_not_gradable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path, COURSE_HEADER, *COURSE_ROWS)
    assert main(["grade", str(source)]) == 0
    second = rows(capsys.readouterr().out)[1]
    assert second["crs_status"] == "not_gradable"  # masking unknown: never assumed
    assert "antipyretic_or_anticytokine_given" in second["missing"]


def test_episodes_writes_one_row_per_episode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path, COURSE_HEADER, *COURSE_ROWS)
    drugs = write(tmp_path, *DRUGS, name="drugs.csv")
    patients = write(
        tmp_path,
        "patient_id,site_id,disease,product,infusion_at,weight_kg",
        "P1,S01,sle,cd19_car_t,2026-02-28T10:00:00,70",
        name="patients.csv",
    )
    assert main(["episodes", str(source), "--drugs", str(drugs), "--patients", str(patients)]) == 0
    (episode,) = rows(capsys.readouterr().out)
    assert episode == {
        "patient_id": "P1",
        "syndrome": "CRS",
        "episode": "1",
        "onset_at": "2026-03-01T08:00:00",
        "onset_study_day": "1",
        "peak_grade": "3",
        "peak_at": "2026-03-01T14:00:00",
        "resolved_at": "2026-03-02T14:00:00",
        "status": "resolved",
        "duration_days": "1.25",
        "tocilizumab_doses": "1",
        "steroid_dexamethasone_mg": "10.0",
        "steroid_doses_not_counted": "0",
    }


def test_a_bad_drug_log_exits_2_naming_row_column_and_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path, COURSE_HEADER, *COURSE_ROWS)
    drugs = write(tmp_path, DRUGS[0], "P1,2026-03-01T09:00:00,toci,560,mg,iv", name="drugs.csv")
    target = tmp_path / "out.csv"
    assert main(["episodes", str(source), "--drugs", str(drugs), "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert "row 2, column drug, value 'toci': Input should be 'tocilizumab'" in err
    assert not target.exists()


def test_a_dose_without_its_unit_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path, COURSE_HEADER, *COURSE_ROWS)
    drugs = write(tmp_path, DRUGS[0], "P1,2026-03-01T09:00:00,tocilizumab,560,,iv", name="d.csv")
    assert main(["grade", str(source), "--drugs", str(drugs)]) == 2
    assert "needs its unit" in capsys.readouterr().err


# -- cartwatch import fhir ------------------------------------------------------------------------
TRIAL = "https://ehr.example.org/fhir/sid/trial-subject"


def fhir_bundle(anc: dict[str, object]) -> str:
    """An EHR bundle for S01-0001: her Patient (record number and trial id), an ANC, a temperature
    in °F, an unmapped glucose and a CRP not performed; times in UTC."""

    def observation(code: str, value: dict[str, object] | None, **extra: object) -> object:
        resource = {
            "resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "subject": {"reference": "Patient/ehr-1"}, "effectiveDateTime": "2024-12-02T06:31:17Z",
        } | ({"valueQuantity": value} if value else {}) | extra  # fmt: skip
        return {"resource": resource}

    ucum = "http://unitsofmeasure.org"
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "ehr-1", "identifier": [
            {"system": "https://ehr.example.org/fhir/sid/mrn", "value": "MRN-884213"},
            {"system": TRIAL, "value": "S01-0001"}]}},
        observation("751-8", anc),
        observation("8310-5", {"value": 100.4, "system": ucum, "code": "[degF]"}),
        observation("2345-7", {"value": 97, "system": ucum, "code": "mg/dL"}),
        observation("1988-5", None, dataAbsentReason={"text": "not performed"}),
    ]})  # fmt: skip


def test_import_fhir_prints_what_it_stored_skipped_and_could_not_map(
    sample_engine: Engine,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CARTWATCH_PASSWORD", "nurse-s01-demo")
    path = tmp_path / "in" / "ehr.json"  # tmp_path also holds the database copy
    path.parent.mkdir()
    ucum = "http://unitsofmeasure.org"
    path.write_text(fhir_bundle({"value": 1.23, "system": ucum, "code": "10*9/L"}))
    command = ["import", "fhir", str(path), "--user", "nurse-s01", "--identifier-system", TRIAL,
               "--timezone", "Europe/Berlin"]  # fmt: skip
    assert main(command) == 0
    nurse = demo(sample_engine, "nurse-s01")
    with UnitOfWork(sample_engine, nurse, read_only=True) as uow:
        (lab,) = [s for s in uow.labs.current("S01-0001") if s.source.startswith("import:")
                  and s.values.collected_at == datetime(2024, 12, 2, 7, 31, 17)]  # fmt: skip
        (vital,) = [s for s in uow.assessments.current("S01-0001")
                    if s.values.observed_at == datetime(2024, 12, 2, 7, 31, 17)]  # fmt: skip
    assert (lab.values.analyte, lab.values.value, lab.values.unit) == ("anc", 1.23, "10^9/L")
    assert vital.values.temperature_c == 38.0  # 100.4 °F, as the form converts it
    assert capsys.readouterr().out.splitlines() == [
        "ehr.json: 5 entries, 4 observations",
        f"  lab results: 1 stored, 0 already there, 0 corrected in the app since (left as is); "
        f"source {lab.source}",
        f"  vital signs (assessments): 1 stored, 0 already there, 0 corrected in the app since "
        f"(left as is); source {vital.source}",
        "  not imported: 1 × no value (data absent)",
        "  unmapped code, skipped: http://loinc.org|2345-7: 1 ×",
    ]
    assert main(command) == 0  # again: nothing stored twice
    out = capsys.readouterr().out
    assert "  lab results: 0 stored, 1 already there" in out
    assert "  vital signs (assessments): 0 stored, 1 already there" in out


def test_import_fhir_lists_each_problem_by_entry_and_element_and_exits_2(
    sample_engine: Engine,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CARTWATCH_PASSWORD", "nurse-s01-demo")
    path = tmp_path / "in" / "ehr.json"
    path.parent.mkdir()
    path.write_text(fhir_bundle({"value": 5, "comparator": "<", "unit": "g/L"}))
    with UnitOfWork(sample_engine, SYSTEM, read_only=True) as uow:
        before = uow.session.execute(select(func.count()).select_from(LabResultRow)).scalar_one()
    command = ["import", "fhir", str(path), "--user", "nurse-s01"]  # default: study-id system
    assert main(command) == 2
    # Entry 3 (glucose) is unmapped, so skipped unchecked; entry 4 (CRP without a value) is a
    # mapped code whose patient must still be known.
    assert capsys.readouterr().err.splitlines() == [
        f"{path}: nothing stored (4 problems)",
        "  entry 1, element subject, value 'Patient/ehr-1': the Patient in this bundle has no "
        "identifier with system urn:cartwatch:study-id",
        "  entry 1, element valueQuantity.comparator, value '<': a value with a comparator (<) "
        "cannot be stored as a number: enter it in the app",
        "  entry 2, element subject, value 'Patient/ehr-1': the Patient in this bundle has no "
        "identifier with system urn:cartwatch:study-id",
        "  entry 4, element subject, value 'Patient/ehr-1': the Patient in this bundle has no "
        "identifier with system urn:cartwatch:study-id",
    ]
    with UnitOfWork(sample_engine, SYSTEM, read_only=True) as uow:
        after = uow.session.execute(select(func.count()).select_from(LabResultRow)).scalar_one()
    assert after == before


def test_import_fhir_options_are_checked_before_signing_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "x.json"
    url = f"sqlite:///{tmp_path / 'cw.db'}"
    base = ["--user", "nurse-s01", "--url", url]
    assert main(["import", "fhir", str(path), *base, "--timezone", "Mars/Olympus"]) == 2
    assert "--timezone 'Mars/Olympus': not an IANA time zone" in capsys.readouterr().err
    assert main(["import", "labs", str(path), *base, "--timezone", "UTC"]) == 2
    assert "--timezone: only for `cartwatch import fhir`" in capsys.readouterr().err
    assert not (tmp_path / "cw.db").exists()  # refused before the database was opened
