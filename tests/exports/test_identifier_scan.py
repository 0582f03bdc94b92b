"""The identifier scan of issue #6: every research export, in every format and date mode it offers,
is written by the researcher and every byte of every file is searched for the sample's identifiers.

What is searched for (all of it is in the store the exports read):

- every study id of the sample (``S01-0001`` ...), and anything shaped like one;
- every date of birth: the sample has none, so the module's store gives each patient one (there is
  no store call to edit a patient's demographics; it is set in the patients table directly);
- the site names ("Sample site S01" ...) and the demo user names (nurse-s01 ... physician-s05,
  researcher, admin) that entered records and handled alerts;
- free text: the sample holds no notes or reasons, so the module writes them through the store
  (an alert acknowledged and one resolved with a note, a lab result corrected and one withdrawn
  with a reason, each with a MARKER string), and the alert details and grade reasons the store
  generated itself;
- true dates: in study-day mode (and in the analytics export, which is aggregate) no true infusion
  date appears anywhere; in shifted mode each patient's exported infusion time is not on the true
  infusion date but on the true time moved by the patient's own shift.

How files are read: text files as UTF-8; xlsx unzipped (every XML part) and read back with pandas;
Parquet read back (data and key-value metadata) and as raw bytes; XPT, SPSS and Stata read back
with pyreadstat (data, labels, value labels) and as raw bytes; PNG as raw bytes. A file of any
other type fails the test, so a new format is not silently skipped. The scanner's self-test plants
an id in each kind of container and checks that it is found.
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pyreadstat
import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from dashboard.exports.source import DateMode, ExportRequest, date_shift, export_key
from dashboard.services.deidentify import PseudonymKey, pseudonym
from dashboard.services.exports import KINDS, run_export
from dashboard.store.alerts import AlertRepository
from dashboard.store.database import open_database
from dashboard.store.sample import COHORT, demo_accounts
from dashboard.store.schema import AlertRow, GradeRow, LabResultRow, Patient, Site
from dashboard.store.unit_of_work import UnitOfWork
from tests.sample_accounts import demo

PATIENTS = pd.read_csv(COHORT / "patients.csv", parse_dates=["infusion_at"])
LABS = pd.read_csv(COHORT / "labs.csv", parse_dates=["collected_at"])
STUDY_ID = re.compile(r"S\d{2}-\d{4}")
TEXT_SUFFIXES = (".csv", ".json", ".ndjson", ".md", ".txt", ".svg")
READERS: dict[str, Callable[..., Any]] = {
    ".xpt": pyreadstat.read_xport, ".sav": pyreadstat.read_sav, ".dta": pyreadstat.read_dta,
}  # fmt: skip
MARKERS = {
    "acknowledge note": "MARKER-ACK-NOTE-4Q7",
    "resolve note": "MARKER-RESOLVE-NOTE-8K2",
    "correction reason": "MARKER-CORRECTION-REASON-3J9",
    "withdrawal reason": "MARKER-WITHDRAWAL-REASON-5T1",
}

CASES = [
    pytest.param(name, fmt, dates, id=f"{name}-{fmt or 'all'}-{dates.value}")
    for name, kind in KINDS.items()
    for fmt in (kind.formats or (None,))
    for dates in kind.dates
]


@dataclass(frozen=True)
class Identifiers:
    """What must never leave, by what it is (the report names the kind of leak)."""

    needles: dict[str, str]  # text → what it is
    words: dict[str, str]  # whole words (user names that are ordinary words)
    key: PseudonymKey

    def find(self, text: str) -> list[str]:
        found = [f"{what}: {needle}" for needle, what in self.needles.items() if needle in text]
        found += [f"{what}: {word}" for word, what in self.words.items()
                  if re.search(rf"\b{re.escape(word)}\b", text)]  # fmt: skip
        found += [f"study id shape: {m}" for m in sorted(set(STUDY_ID.findall(text)))]
        return found


def date_of_birth(index: int, row: pd.Series) -> date:
    """A date of birth for the sample's patients, consistent with the age at infusion."""
    infusion = row["infusion_at"]
    return date(infusion.year - int(row["age_years"]) - 1, index % 12 + 1, index % 28 + 1)


@pytest.fixture(scope="module")
def store(
    sample_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, Identifiers]]:
    """A private copy of the sample with dates of birth and free text planted (module docstring)."""
    path = tmp_path_factory.mktemp("identifier_scan") / "cartwatch.db"
    shutil.copyfile(sample_template, path)
    engine = open_database(f"sqlite+pysqlite:///{path}")
    rows = (row for _, row in PATIENTS.iterrows())
    births = {row["patient_id"]: date_of_birth(i, row) for i, row in enumerate(rows)}
    with Session(engine) as session:
        for patient_id, born in births.items():
            session.execute(
                update(Patient).where(Patient.patient_id == patient_id).values(date_of_birth=born)
            )
        session.commit()
    _plant_free_text(engine)
    with Session(engine) as session:
        sites = {row[0]: row[1] for row in session.execute(select(Site.site_id, Site.name))}
        details = set(session.execute(select(AlertRow.detail)).scalars())
        reasons = set(session.execute(select(GradeRow.crs_reason)).scalars())
        reasons |= set(session.execute(select(GradeRow.icans_reason)).scalars())
        stored_births = set(session.execute(select(Patient.date_of_birth)).scalars())
    assert stored_births == set(births.values())
    needles = dict.fromkeys(PATIENTS["patient_id"], "study id")
    needles |= {born.isoformat(): "date of birth" for born in births.values()}
    needles |= dict.fromkeys(sites.values(), "site name")
    assert sorted(sites.values()) == [f"Sample site S0{i}" for i in range(1, 6)]
    accounts = [a.username for a in demo_accounts(sorted(sites))]
    needles |= {name: "user name" for name in accounts if "-" in name}
    words = {name: "user name" for name in accounts if "-" not in name}
    assert sorted(words) == ["admin", "researcher"]
    needles |= {text: what for what, text in MARKERS.items()}
    needles |= {d: "alert detail" for d in details if d}
    needles |= {r: "grade reason" for r in reasons if r}
    key = export_key(engine, demo(engine, "researcher"))
    yield engine, Identifiers(needles, words, key)
    engine.dispose()


def _plant_free_text(engine: Engine) -> None:
    """Notes and reasons through the store, as clinicians would write them."""
    physician = demo(engine, "physician-s01")
    with UnitOfWork(engine, physician) as uow:
        alerts = AlertRepository(uow.session, physician)
        first, second = alerts.inbox()[:2]
        alerts.acknowledge(first.alert_id, MARKERS["acknowledge note"])
        alerts.resolve(second.alert_id, MARKERS["resolve note"])
        uow.commit()
    nurse = demo(engine, "nurse-s01")
    with UnitOfWork(engine, nurse) as uow:
        labs = uow.labs.current("S01-0001")
        lab = labs[0]
        uow.labs.correct(lab.record_id, lab.version, lab.values, MARKERS["correction reason"])
        gone = labs[-1]  # the last lab, not the first (the FHIR check reads the first)
        uow.labs.withdraw(gone.record_id, gone.version, MARKERS["withdrawal reason"])
        uow.commit()
    with Session(engine) as session:
        notes = set(session.execute(select(AlertRow.acknowledge_note)).scalars())
        notes |= set(session.execute(select(AlertRow.resolve_note)).scalars())
        notes |= set(session.execute(select(LabResultRow.reason)).scalars())
    assert set(MARKERS.values()) <= notes  # all four are in the store the exports read


# -- reading every file as text ----------------------------------------------------------------


def _frame_text(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S")


def _statistics_text(path: Path) -> str:
    frame, meta = READERS[path.suffix](path)
    parts = [_frame_text(frame), str(meta.column_names), str(meta.column_names_to_labels),
             str(meta.file_label), str(meta.table_name), str(meta.variable_value_labels)]  # fmt: skip
    return "\n".join(parts)


def file_text(path: Path) -> str:
    """Everything in the file a person or a program could read, as one text (module docstring)."""
    raw = path.read_bytes()
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return raw.decode("utf-8")
    if suffix == ".xlsx":
        with zipfile.ZipFile(path) as archive:
            parts = [archive.read(n).decode("utf-8", "replace") for n in archive.namelist()]
        sheets = pd.read_excel(path, sheet_name=None)
        return "\n".join([*parts, *(_frame_text(s) for s in sheets.values())])
    if suffix == ".parquet":
        metadata = pq.read_schema(path).metadata or {}
        meta = "\n".join(f"{k.decode()}={v.decode()}" for k, v in metadata.items())
        return "\n".join([_frame_text(pd.read_parquet(path)), meta, raw.decode("latin-1")])
    if suffix in (".xpt", ".sav", ".dta"):
        return _statistics_text(path) + "\n" + raw.decode("latin-1")
    if suffix == ".png":
        return raw.decode("latin-1")
    raise AssertionError(f"{path.name}: the scan does not know how to read {suffix} files")


# -- each patient's infusion time as the export gives it (shifted mode) ------------------------


def _statistics_frame(path: Path) -> pd.DataFrame:
    frame, _ = READERS[path.suffix](path)
    return pd.DataFrame(frame)


def _tidy_infusions(out: Path, fmt: str) -> list[dict[str, pd.Timestamp]]:
    name, time = "pseudonym", "infusion_at"
    if fmt == "csv":
        frame = pd.read_csv(out / "patients.csv", comment="#", parse_dates=[time])
    elif fmt == "parquet":
        frame = pd.read_parquet(out / "patients.parquet")
    elif fmt == "xlsx":
        frame = pd.read_excel(out / "tidy.xlsx", sheet_name="patients")
    else:
        frame = _statistics_frame(out / f"patients.{fmt}")
        if fmt == "xpt":
            manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
            variables = manifest["tables"]["patients"]["variables"]
            name, time = variables[name]["name_in_file"], variables[time]["name_in_file"]
    return [dict(zip(frame[name], pd.to_datetime(frame[time]), strict=True))]


def _sdtm_infusions(out: Path) -> list[dict[str, pd.Timestamp]]:
    csv = pd.read_csv(out / "dm.csv", comment="#")
    xpt = _statistics_frame(out / "dm.xpt")
    return [dict(zip(f["SUBJID"], pd.to_datetime(f["RFXSTDTC"]), strict=True)) for f in (csv, xpt)]


def _registry_infusions(out: Path) -> list[dict[str, pd.Timestamp]]:
    frames = [pd.read_csv(p, comment="#") for p in sorted(out.glob("registry_*.csv"))]
    assert len(frames) == 2
    return [dict(zip(f["pseudonym"], pd.to_datetime(f["infusion_date"]), strict=True))
            for f in frames]  # fmt: skip


def _fhir_first_labs(out: Path) -> dict[str, pd.Timestamp]:
    """Each patient's earliest laboratory Observation (FHIR carries no infusion time)."""
    first: dict[str, pd.Timestamp] = {}
    with (out / "Observation.ndjson").open(encoding="utf-8") as handle:
        for line in handle:
            resource = json.loads(line)
            codes = {c["code"] for cat in resource.get("category", []) for c in cat["coding"]}
            if "laboratory" not in codes:
                continue
            name = resource["subject"]["reference"].removeprefix("Patient/")
            at = pd.Timestamp(resource["effectiveDateTime"]).tz_localize(None)
            first[name] = min(first.get(name, at), at)
    return first


def check_shifted_infusions(kind: str, fmt: str | None, out: Path, key: PseudonymKey) -> None:
    """Every patient's exported infusion time: not on the true date, on true time + shift."""
    true = dict(zip(PATIENTS["patient_id"], PATIENTS["infusion_at"], strict=True))
    if kind == "fhir":
        true = LABS.groupby("patient_id")["collected_at"].min().to_dict()
        exported = [_fhir_first_labs(out)]
    elif kind == "tidy":
        assert fmt is not None
        exported = _tidy_infusions(out, fmt)
    elif kind == "sdtm":
        exported = _sdtm_infusions(out)
    else:
        assert kind == "registry", f"{kind}: say where its shifted infusion time is"
        exported = _registry_infusions(out)
    by_name = {pseudonym(pid, key): pid for pid in true}
    for times in exported:
        assert set(times) == set(by_name), "every patient's infusion time is exported"
        for name, at in times.items():
            study_id = by_name[name]
            shift = date_shift(study_id, key)
            assert shift <= timedelta(days=-1)
            assert at.date() != true[study_id].date(), (study_id, "true date left")
            expected = true[study_id] + shift
            if kind == "registry":  # a date, no time
                expected = expected.normalize()
            assert at == expected, study_id


# -- the scan ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "fmt", "dates"), CASES)
def test_no_identifier_leaves(
    kind: str, fmt: str | None, dates: DateMode, store: tuple[Engine, Identifiers], tmp_path: Path
) -> None:
    engine, identifiers = store
    out = tmp_path / "out"
    paths = run_export(engine, demo(engine, "researcher"), kind, ExportRequest(dates=dates), out,
                       fmt)  # fmt: skip
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert files == sorted(paths), "every file written is a file returned (and scanned)"
    assert "manifest.json" in {p.name for p in files}
    texts = {p.relative_to(out).as_posix(): file_text(p) for p in files}
    leaks = {name: found for name, text in texts.items() if (found := identifiers.find(text))}
    assert not leaks
    if dates is DateMode.STUDY_DAY or kind == "analytics":
        true_days = {at.date().isoformat() for at in PATIENTS["infusion_at"]}
        dated = {name: sorted(d for d in true_days if d in text) for name, text in texts.items()}
        assert not {name: days for name, days in dated.items() if days}
    else:
        check_shifted_infusions(kind, fmt, out, identifiers.key)


def test_every_kind_format_and_date_mode_is_scanned() -> None:
    ids = {p.id for p in CASES}
    assert len(ids) == len(CASES)
    assert {"tidy-csv-study_day", "tidy-dta-shifted", "fhir-all-shifted"} <= ids
    assert "fhir-all-study_day" not in ids  # FHIR is offered with shifted dates only
    assert len(CASES) == 2 * 6 + 2 + 2 + 1 + 2


def test_the_scanner_finds_a_planted_identifier(
    store: tuple[Engine, Identifiers], tmp_path: Path
) -> None:
    """An id planted in each kind of container is found (so a clean scan means something)."""
    _, identifiers = store
    planted = "S03-0004"
    born = next(n for n, what in identifiers.needles.items() if what == "date of birth")
    frame = pd.DataFrame({"pseudonym": [planted], "born": [pd.Timestamp(born)], "x": [1.5]})
    (tmp_path / "a.csv").write_text(f"id,x\n{planted},1\n", encoding="utf-8")
    # gzip and no column statistics: the id is in no byte of the file, only in its data read back
    frame.to_parquet(tmp_path / "a.parquet", compression="gzip", write_statistics=False)
    frame.to_excel(tmp_path / "a.xlsx", index=False)
    pyreadstat.write_xport(frame.rename(columns={"pseudonym": "pseudo"}), tmp_path / "a.xpt")
    pyreadstat.write_sav(frame[["born", "x"]], tmp_path / "a.sav", file_label=planted)
    pyreadstat.write_dta(frame[["born", "x"]], tmp_path / "a.dta",
                         column_labels={"x": f"note by nurse-s02 on {planted}"})  # fmt: skip
    for name in ("a.parquet", "a.xlsx"):  # compressed: only unzipping or reading back finds it
        assert planted.encode() not in (tmp_path / name).read_bytes(), name
    for name in ("a.parquet", "a.xlsx", "a.sav", "a.dta"):  # a date-time is stored as a number
        assert born.encode() not in (tmp_path / name).read_bytes(), name
    for path in sorted(tmp_path.iterdir()):
        found = identifiers.find(file_text(path))
        assert f"study id: {planted}" in found, path.name
        if path.suffix in (".parquet", ".xlsx", ".sav", ".dta"):
            assert f"date of birth: {born}" in found, path.name
    dta = identifiers.find(file_text(tmp_path / "a.dta"))
    assert "user name: nurse-s02" in dta
    assert identifiers.find("a researcher exported it") == ["user name: researcher"]
    assert identifiers.find("researchers") == []  # a whole word only
    assert identifiers.find(f"note: {MARKERS['resolve note']}") == [
        f"resolve note: {MARKERS['resolve note']}"
    ]
    (tmp_path / "a.bin").write_bytes(b"\x00")
    with pytest.raises(AssertionError, match="does not know"):
        file_text(tmp_path / "a.bin")
