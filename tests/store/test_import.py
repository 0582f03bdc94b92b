"""Bulk import: the whole file or nothing, never twice, never over a stored record (both backends)."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, func, select

from dashboard.csv_contract import Problem
from dashboard.store import audit
from dashboard.store import people as people_module
from dashboard.store.access import SYSTEM, Actor, Role
from dashboard.store.errors import AccessDeniedError
from dashboard.store.importer import ImportRejectedError, import_file, import_into
from dashboard.store.records import RecordKind
from dashboard.store.schema import (
    AssessmentRow,
    AuditEntry,
    DrugAdministrationRow,
    LabResultRow,
    Patient,
)
from dashboard.store.unit_of_work import UnitOfWork
from grading import Assessment
from sample_data.generator import generate_cohort, write_cohort

INFUSION = datetime(2026, 3, 1, 10, 0)  # the conftest patients' infusion
HEADER = "patient_id,observed_at,temperature_c,hypotension,oxygen_device"
REPO = Path(__file__).resolve().parents[2]
QUICK_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True)
def quick_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id at its lowest cost for the accounts the fixtures create: the real cost is tested
    in test_records and only slows the setup here (check_password reads the cost from the hash)."""
    monkeypatch.setattr(people_module, "hash_password", QUICK_HASHER.hash)


def assessments_csv(count: int, patient: str = "P1", temperature: float = 38.2) -> str:
    """``count`` hourly assessments of ``patient`` from the infusion on."""
    lines = [HEADER]
    for hour in range(count):
        at = (INFUSION + timedelta(hours=hour)).isoformat()
        lines.append(f"{patient},{at},{temperature},none,room_air")
    return "\n".join(lines) + "\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def count(engine: Engine, table: Any) -> int:
    with UnitOfWork(engine, SYSTEM) as uow:
        return int(uow.session.execute(select(func.count()).select_from(table)).scalar_one())


def chain_ok(engine: Engine) -> bool:
    with UnitOfWork(engine, SYSTEM) as uow:
        return audit.verify(uow.session).ok


def where(problems: list[Problem]) -> set[tuple[int | None, str | None, str | None]]:
    return {(p.row, p.column, p.value) for p in problems}


def test_a_good_file_is_stored_with_its_counts_source_and_audit_entries(
    engine: Engine, people: dict[str, Actor], tmp_path: Path
) -> None:
    path = write(tmp_path, "ward.csv", assessments_csv(3))
    entries_before = count(engine, AuditEntry)
    seen: list[tuple[int, int]] = []
    report = import_file(
        engine,
        people["nurse1"],
        "assessments",
        path,
        lambda done, total: seen.append((done, total)),
    )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert (report.rows, report.stored, report.skipped, report.corrected_in_app) == (3, 3, 0, 0)
    assert (report.sha256, report.source) == (digest, f"import:{digest[:12]}")
    assert (report.file_name, seen) == ("ward.csv", [(0, 3), (3, 3)])
    with UnitOfWork(engine, people["nurse1"]) as uow:
        current = uow.assessments.current("P1")
        query = (
            select(AuditEntry)
            .where(AuditEntry.seq > entries_before, AuditEntry.actor == "nurse1")
            .order_by(AuditEntry.seq)
        )  # the alert engine, when registered, adds its own entries as "system"
        entries = [
            (e.action, e.entity, e.entity_id, e.detail)
            for e in uow.session.execute(query).scalars()
        ]
    assert [(c.values.temperature_c, c.entered_by, c.source) for c in current] == [
        (38.2, "nurse1", report.source)
    ] * 3
    assert [e[:2] for e in entries] == [("import", "assessments")] + [("create", "assessment")] * 3
    summary = entries[0][3]
    assert (summary["file"], summary["sha256"], summary["stored"]) == ("ward.csv", digest, 3)
    assert {e[2] for e in entries[1:]} == {c.record_id for c in current}
    assert chain_ok(engine)


def test_patients_labs_and_drugs_are_imported_too(
    engine: Engine, people: dict[str, Actor], tmp_path: Path
) -> None:
    nurse = people["nurse1"]
    patients = write(
        tmp_path,
        "patients.csv",
        (
            "patient_id,site_id,disease,product,infusion_at,weight_kg\n"
            "P3,S01,myositis,cd19_car_t,2026-03-05T09:00:00,64\n"
        ),
    )
    labs = write(
        tmp_path,
        "labs.csv",
        (
            "patient_id,collected_at,analyte,value,unit,loinc\n"
            "P1,2026-03-02T06:00:00,crp,42,mg/L,1988-5\n"
            "P3,2026-03-06T06:00:00,anc,0.4,10^9/L,751-8\n"
        ),
    )
    drugs = write(
        tmp_path,
        "drugs.csv",
        (
            "patient_id,given_at,drug,dose,dose_unit,route\n"
            "P1,2026-03-02T07:00:00,paracetamol,1000,mg,po\n"
        ),
    )
    reports = [
        import_file(engine, nurse, "patients", patients),
        import_file(engine, nurse, "labs", labs),
        import_file(engine, nurse, "drugs", drugs),
    ]
    assert [(r.kind, r.stored) for r in reports] == [("patients", 1), ("labs", 2), ("drugs", 1)]
    with UnitOfWork(engine, nurse) as uow:
        assert uow.patients.get("P3").weight_kg == 64
        assert [(lab.values.analyte, lab.values.value) for lab in uow.labs.current("P3")] == [
            ("anc", 0.4)
        ]
        assert [d.values.dose for d in uow.drugs.current("P1")] == [1000]
    assert chain_ok(engine)


def test_several_files_go_in_one_transaction_with_import_into(
    engine: Engine, people: dict[str, Actor], tmp_path: Path
) -> None:
    patients = write(
        tmp_path,
        "patients.csv",
        (
            "patient_id,site_id,disease,product,infusion_at\n"
            "P3,S01,sle,cd19_car_t,2026-03-01T10:00:00\n"
        ),
    )
    ward = write(tmp_path, "ward.csv", assessments_csv(4, patient="P3"))
    with UnitOfWork(engine, people["nurse1"]) as uow:
        import_into(uow, "patients", patients)
        assert import_into(uow, "assessments", ward).stored == 4  # P3 counts as existing
    assert (count(engine, Patient), count(engine, AssessmentRow)) == (2, 0)  # not committed
    with UnitOfWork(engine, people["nurse1"]) as uow:
        import_into(uow, "patients", patients)
        import_into(uow, "assessments", ward)
        uow.commit()
    assert (count(engine, Patient), count(engine, AssessmentRow)) == (3, 4)
    assert chain_ok(engine)


def test_every_problem_is_reported_with_row_column_and_value_and_nothing_is_stored(
    engine: Engine, people: dict[str, Actor], tmp_path: Path
) -> None:
    text = (
        HEADER + ",temp_f\n"
        f"P1,{INFUSION.isoformat()},38.2,none,room_air,100.8\n"
        f"P1,{(INFUSION + timedelta(hours=1)).isoformat()},hot,none,room_air,\n"
        f"P2,{(INFUSION + timedelta(hours=2)).isoformat()},38.0,none,room_air,\n"
        f"P9,{(INFUSION + timedelta(hours=3)).isoformat()},37.0,none,room_air,\n"
        f"P1,{(INFUSION + timedelta(hours=4)).isoformat()}+01:00,37.0,none,room_air,\n"
    )
    path = write(tmp_path, "bad.csv", text)
    before = (count(engine, AssessmentRow), count(engine, AuditEntry))
    with pytest.raises(ImportRejectedError) as refused:
        import_file(engine, people["nurse1"], "assessments", path)
    assert where(refused.value.problems) == {
        (1, "temp_f", None),  # unknown column
        (3, "temperature_c", "hot"),  # bad cell
        (4, "patient_id", "P2"),  # another site's patient
        (5, "patient_id", "P9"),  # no such patient: the same words, so nothing leaks
        (6, "observed_at", "2026-03-01T14:00:00+01:00"),  # an offset: stored differently by backend
    }
    messages = {p.row: p.message for p in refused.value.problems}
    assert "unknown column" in messages[1]
    assert messages[4] == messages[5]
    assert "write the local time (2026-03-01T14:00:00)" in messages[6]
    assert "bad.csv: nothing was imported (5 problems)" in str(refused.value)
    assert (count(engine, AssessmentRow), count(engine, AuditEntry)) == before


def test_reimporting_the_same_file_stores_nothing_twice(
    engine: Engine, people: dict[str, Actor], tmp_path: Path
) -> None:
    path = write(tmp_path, "ward.csv", assessments_csv(5))
    first = import_file(engine, people["nurse1"], "assessments", path)
    after_first = (count(engine, AssessmentRow), count(engine, AuditEntry))
    progress: list[tuple[int, int]] = []
    again = import_file(
        engine,
        people["physician1"],
        "assessments",
        path,
        lambda done, total: progress.append((done, total)),
    )
    assert (first.stored, first.skipped) == (5, 0)
    assert (again.stored, again.skipped, again.sha256) == (0, 5, first.sha256)
    assert progress == [(0, 0)]
    assert (count(engine, AssessmentRow), count(engine, AuditEntry)) == after_first


def test_a_file_with_new_and_known_rows_stores_only_the_new_ones(
    engine: Engine, people: dict[str, Actor], tmp_path: Path
) -> None:
    import_file(
        engine, people["nurse1"], "assessments", write(tmp_path, "a.csv", assessments_csv(3))
    )
    report = import_file(
        engine, people["nurse1"], "assessments", write(tmp_path, "b.csv", assessments_csv(5))
    )
    assert (report.stored, report.skipped) == (2, 3)
    assert count(engine, AssessmentRow) == 5


def test_a_conflicting_reimport_is_refused_and_the_stored_value_stays(
    engine: Engine, people: dict[str, Actor], tmp_path: Path
) -> None:
    import_file(
        engine, people["nurse1"], "assessments", write(tmp_path, "a.csv", assessments_csv(3))
    )
    changed = assessments_csv(3).replace(
        f"{(INFUSION + timedelta(hours=1)).isoformat()},38.2",
        f"{(INFUSION + timedelta(hours=1)).isoformat()},39.5",
    )
    before = (count(engine, AssessmentRow), count(engine, AuditEntry))
    with pytest.raises(ImportRejectedError) as refused:
        import_file(engine, people["nurse1"], "assessments", write(tmp_path, "b.csv", changed))
    [problem] = refused.value.problems
    assert (problem.row, problem.column, problem.value) == (3, "temperature_c", "39.5")
    assert problem.message == (
        f"an assessment for P1 at {(INFUSION + timedelta(hours=1)).isoformat()} already exists "
        "with other values; correct it in the app with a reason (an import never overwrites a "
        "stored record) (stored: 38.2)"
    )
    assert (count(engine, AssessmentRow), count(engine, AuditEntry)) == before
    with UnitOfWork(engine, people["nurse1"]) as uow:
        assert {c.values.temperature_c for c in uow.assessments.current("P1")} == {38.2}


def test_a_row_corrected_in_the_app_is_not_brought_back_by_the_old_file(
    engine: Engine, people: dict[str, Actor], tmp_path: Path
) -> None:
    path = write(tmp_path, "a.csv", assessments_csv(2))
    import_file(engine, people["nurse1"], "assessments", path)
    with UnitOfWork(engine, people["physician1"]) as uow:
        first = uow.assessments.current("P1")[0]
        corrected = Assessment(
            patient_id="P1",
            observed_at=INFUSION,
            temperature_c=37.4,
            hypotension="none",
            oxygen_device="room_air",
        )
        uow.assessments.correct(first.record_id, 1, corrected, "thermometer misread")
        uow.commit()
    report = import_file(engine, people["nurse1"], "assessments", path)
    assert (report.stored, report.skipped, report.corrected_in_app) == (0, 1, 1)
    with UnitOfWork(engine, people["nurse1"]) as uow:
        assert [c.values.temperature_c for c in uow.assessments.current("P1")] == [37.4, 38.2]


def test_a_key_repeated_in_the_file_is_stored_once_or_refused_when_the_rows_disagree(
    engine: Engine, people: dict[str, Actor], tmp_path: Path
) -> None:
    rows = assessments_csv(2).splitlines()
    repeated = write(tmp_path, "a.csv", "\n".join([*rows, rows[1]]) + "\n")
    report = import_file(engine, people["nurse1"], "assessments", repeated)
    assert (report.rows, report.stored, report.skipped) == (3, 2, 1)
    disagreeing = rows[2].replace("38.2", "40.1")
    path = write(tmp_path, "b.csv", "\n".join([*rows, disagreeing]) + "\n")
    with pytest.raises(ImportRejectedError) as refused:
        import_file(engine, people["nurse1"], "assessments", path)
    assert where(refused.value.problems) == {(4, "temperature_c", "40.1")}
    assert "also in row 3" in refused.value.problems[0].message


def test_only_nurses_and_physicians_import_records(
    engine: Engine, people: dict[str, Actor], tmp_path: Path
) -> None:
    path = write(tmp_path, "a.csv", assessments_csv(1))
    for who in ("researcher", "admin"):
        with pytest.raises(AccessDeniedError, match="cannot import assessments"):
            import_file(engine, people[who], "assessments", path)
    assert count(engine, AssessmentRow) == 0


def test_an_import_failing_half_way_leaves_no_rows_and_no_audit_entries(
    engine: Engine, people: dict[str, Actor], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "a.csv", assessments_csv(100))
    before = (count(engine, AssessmentRow), count(engine, AuditEntry))
    original, calls = RecordKind.to_columns, []

    def fail_on_the_50th_row(self: RecordKind[Any], record: Any) -> dict[str, Any]:
        calls.append(record)
        if len(calls) == 50:
            raise RuntimeError("disk full")
        return original(self, record)

    monkeypatch.setattr(RecordKind, "to_columns", fail_on_the_50th_row)
    progress: list[tuple[int, int]] = []
    with pytest.raises(RuntimeError, match="disk full"):
        import_file(
            engine,
            people["nurse1"],
            "assessments",
            path,
            lambda done, total: progress.append((done, total)),
            batch_size=20,
        )
    assert progress == [(0, 100), (20, 100), (40, 100)]  # two batches were written, then it failed
    assert (count(engine, AssessmentRow), count(engine, AuditEntry)) == before
    assert chain_ok(engine)
    monkeypatch.setattr(RecordKind, "to_columns", original)
    assert import_file(engine, people["nurse1"], "assessments", path).stored == 100


KILLED_IMPORT = textwrap.dedent("""
    import sys, time
    from dashboard.store.access import Actor
    from dashboard.store.engine import make_engine
    from dashboard.store.importer import import_file

    url, options, actor, path = sys.argv[1:]
    engine = make_engine(url, **({"connect_args": {"options": options}} if options else {}))

    def progress(done, total):
        print(done, total, flush=True)
        if done >= 4000:
            time.sleep(120)  # hold the transaction open, mid-import, until the test kills us

    import_file(engine, Actor.model_validate_json(actor), "assessments", path, progress,
                batch_size=2000)
    print("committed", flush=True)
""")


def test_a_killed_import_leaves_the_database_as_it_was(
    engine: Engine, backend: str, tmp_path: Path
) -> None:
    """SIGKILL in the middle of a 20,000-row import. The child reports each batch; once 4,000 rows
    are written inside its transaction it waits, so the kill lands mid-import every time."""
    cohort = generate_cohort(190, seed=7)
    assert len(cohort.assessments) >= 20_000
    small = dataclasses.replace(
        cohort, assessments=cohort.assessments.iloc[:20_000], labs=cohort.labs.iloc[:0]
    )
    files = write_cohort(small, tmp_path / "cohort")
    sites = sorted(set(cohort.patients["site_id"]))
    with UnitOfWork(engine, SYSTEM) as uow:
        for site in sites:
            uow.people.add_site(site, site)
        nurse = uow.people.add_user("bulk-nurse", Role.NURSE, "bulk-nurse-pw", sites)
        uow.commit()
    assert import_file(engine, nurse, "patients", files["patients"]).stored == 190
    before = (count(engine, AssessmentRow), count(engine, AuditEntry))

    options = ""
    if backend == "postgresql":
        with engine.connect() as connection:
            options = f"-csearch_path={connection.exec_driver_sql('show search_path').scalar()}"
    url = engine.url.render_as_string(hide_password=False)
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            KILLED_IMPORT,
            url,
            options,
            nurse.model_dump_json(),
            str(files["assessments"]),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    watchdog = threading.Timer(60, child.kill)  # a silent child cannot hang the test run
    watchdog.start()
    try:
        assert child.stdout is not None
        lines = []
        for line in child.stdout:
            lines.append(line.strip())
            if line.startswith("4000 "):
                break
        assert lines[-1:] == ["4000 20000"], (lines, child.stderr.read() if child.stderr else "")
        child.send_signal(signal.SIGKILL)  # 4,000 rows written, not committed
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        watchdog.cancel()
        if child.poll() is None:
            child.kill()
            child.wait()

    digest = hashlib.sha256(files["assessments"].read_bytes()).hexdigest()
    with UnitOfWork(engine, SYSTEM) as uow:
        from_file = uow.session.execute(
            select(func.count())
            .select_from(AssessmentRow)
            .where(AssessmentRow.source == f"import:{digest[:12]}")
        ).scalar_one()
        verification = audit.verify(uow.session)
    assert from_file == 0
    assert (count(engine, AssessmentRow), count(engine, AuditEntry)) == before
    assert verification.ok, verification.message
    # Nothing is left locked: the next import goes in.
    one_row = write(
        tmp_path, "one.csv", "\n".join(files["assessments"].read_text().splitlines()[:2])
    )
    assert import_file(engine, nurse, "assessments", one_row).stored == 1
    assert chain_ok(engine)


def test_labs_and_drugs_of_other_sites_are_refused_too(
    engine: Engine, people: dict[str, Actor], tmp_path: Path
) -> None:
    labs = write(
        tmp_path,
        "labs.csv",
        ("patient_id,collected_at,analyte,value,unit\nP2,2026-03-02T06:00:00,crp,42,mg/L\n"),
    )
    patients = write(
        tmp_path,
        "patients.csv",
        (
            "patient_id,site_id,disease,product,infusion_at\n"
            "P4,S02,sle,cd19_car_t,2026-03-05T09:00:00\n"
            "P5,S09,sle,cd19_car_t,2026-03-05T09:00:00\n"
        ),
    )
    with pytest.raises(ImportRejectedError) as labs_refused:
        import_file(engine, people["nurse1"], "labs", labs)
    with pytest.raises(ImportRejectedError) as patients_refused:
        import_file(engine, people["nurse1"], "patients", patients)
    assert where(labs_refused.value.problems) == {(2, "patient_id", "P2")}
    assert where(patients_refused.value.problems) == {(2, "site_id", "S02"), (3, "site_id", "S09")}
    assert (count(engine, LabResultRow), count(engine, Patient)) == (0, 2)
    assert count(engine, DrugAdministrationRow) == 0
