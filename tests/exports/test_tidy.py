"""Golden tidy exports (dashboard/exports/tidy.py): every format read back with its own reader and
compared, value by value, with the shipped sample CSVs (sample_data/cohort).

The sample is exported once per format and date mode for the module (a private copy of the sample
template). Expected values are either computed from the sample CSVs by the hand rule of
test_source.py (a study day is (time - infusion instant) in days, rounded to 0.01) or, where
grading is involved, checked by hand against /work/shared/clinical/criteria.md (said where).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyreadstat
import pytest
from sqlalchemy import Engine

from dashboard.exports.source import (
    LABELS,
    TABLES,
    DateMode,
    ExportRequest,
    columns,
    date_shift,
    export_key,
)
from dashboard.exports.tidy import TidyFormat, write_tidy
from dashboard.services.deidentify import PseudonymKey, pseudonym
from dashboard.store.errors import AccessDeniedError
from dashboard.store.sample import COHORT
from tests.sample_accounts import demo

FORMATS = tuple(f.value for f in TidyFormat)
STATISTICS = ("xpt", "sav", "dta")
PATIENT = "S01-0001"  # infused 2024-11-01T10:00 (patients.csv)
INFUSION = pd.Timestamp("2024-11-01T10:00:00")
SAMPLE = {name: pd.read_csv(COHORT / f"{name}.csv") for name in ("patients", "assessments", "labs",
          "drugs", "events")}  # fmt: skip

Tables = dict[str, pd.DataFrame]


def study_day(at: str, infusion: pd.Timestamp = INFUSION) -> float:
    """The hand rule: (time - infusion instant) in days, rounded to 0.01."""
    return round((pd.Timestamp(at) - infusion).total_seconds() / 86_400, 2)


# -- exporting and reading back ----------------------------------------------------------------


@pytest.fixture(scope="module")
def key(module_engine: Engine) -> PseudonymKey:
    return export_key(module_engine, demo(module_engine, "researcher"))


@pytest.fixture(scope="module")
def me(key: PseudonymKey) -> str:
    """The sample patient's pseudonym."""
    return pseudonym(PATIENT, key)


@pytest.fixture(scope="module")
def export(module_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``export(fmt, dates, chunk_patients=250)``: the folder of that export (written once)."""
    done: dict[tuple[str, DateMode, int], Path] = {}
    researcher = demo(module_engine, "researcher")

    def run(fmt: str, dates: DateMode, chunk_patients: int = 250) -> Path:
        wanted = (fmt, dates, chunk_patients)
        if wanted not in done:
            folder = tmp_path_factory.mktemp(f"tidy_{fmt}_{dates.value}_{chunk_patients}")
            request = ExportRequest(dates=dates, chunk_patients=chunk_patients)
            write_tidy(module_engine, researcher, request, folder, fmt)
            done[wanted] = folder
        return done[wanted]

    return run


def manifest(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return data


def read_back(folder: Path, fmt: str) -> Tables:
    """Every table as its format's reader gives it, columns renamed to the source's names (XPT:
    through the manifest's name_in_file map)."""
    tables = manifest(folder)["tables"]
    out = {}
    for table in TABLES:
        if fmt == "csv":
            frame = pd.read_csv(folder / f"{table}.csv", comment="#")
        elif fmt == "parquet":
            frame = pd.read_parquet(folder / f"{table}.parquet")
        elif fmt == "xlsx":
            frame = pd.read_excel(folder / "tidy.xlsx", sheet_name=table)
        elif fmt == "xpt":
            frame, _ = pyreadstat.read_xport(folder / f"{table}.xpt")
            short = {v["name_in_file"]: c for c, v in tables[table]["variables"].items()}
            frame = frame.rename(columns=short)
        elif fmt == "sav":
            frame, _ = pyreadstat.read_sav(folder / f"{table}.sav")
        else:
            frame, _ = pyreadstat.read_dta(folder / f"{table}.dta")
        out[table] = frame
    return out


@pytest.fixture(scope="module")
def study(export: Callable[..., Path]) -> dict[str, Tables]:
    """Each format's study-day export, read back."""
    return {fmt: read_back(export(fmt, DateMode.STUDY_DAY), fmt) for fmt in FORMATS}


@pytest.fixture(scope="module")
def shifted(export: Callable[..., Path]) -> dict[str, Tables]:
    """Each format's shifted-date export, read back."""
    return {fmt: read_back(export(fmt, DateMode.SHIFTED), fmt) for fmt in FORMATS}


def mine(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    return frame[frame["pseudonym"] == name]


def one(frame: pd.DataFrame, **where: Any) -> pd.Series:
    """The single row matching every ``column=value`` (study days compared to 0.01)."""
    mask = pd.Series(True, index=frame.index)
    for column, value in where.items():
        if isinstance(value, float):
            mask &= (frame[column] - value).abs() < 0.001
        else:
            mask &= frame[column] == value
    rows = frame[mask]
    assert len(rows) == 1, (where, len(rows))
    return rows.iloc[0]


# -- golden values -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_sample_patients_values_read_back(fmt: str, study: dict[str, Tables], me: str) -> None:
    out = study[fmt]
    patient = one(out["patients"], pseudonym=me)
    assert (patient["site_id"], patient["disease"], patient["product"]) == ("S01", "sle",
                                                                           "cd19_car_t")  # fmt: skip
    assert (patient["age_years"], patient["sex"], patient["weight_kg"]) == (34.0, "female", 62.0)
    assert patient["infusion_day"] == 0.0
    # lymphodepletion from 2024-10-27T08:40: 5 days 1 h 20 min before the infusion
    assert patient["lymphodepletion_start_day"] == -5.06

    labs = mine(out["labs"], me)
    source_labs = SAMPLE["labs"][SAMPLE["labs"]["patient_id"] == PATIENT]
    assert len(labs) == len(source_labs) == 269
    assert (labs["analyte"] == "anc").sum() == 28
    # labs.csv: S01-0001,2024-11-06T06:09:00,anc,1.15 -> day 4 d 20 h 9 min = 4.84
    assert study_day("2024-11-06T06:09:00") == 4.84
    anc = one(labs, analyte="anc", collected_day=4.84)
    assert (anc["value"], anc["unit"], anc["loinc"]) == (1.15, "10^9/L", "751-8")

    assessments = mine(out["assessments"], me)
    source = SAMPLE["assessments"][SAMPLE["assessments"]["patient_id"] == PATIENT]
    assert len(assessments) == len(source)
    # assessments.csv: 2024-11-03T02:08:00, 39.5 C, one vasopressor, face mask 8 L/min
    febrile = one(assessments, observed_day=study_day("2024-11-03T02:08:00"))
    assert febrile["observed_day"] == 1.67
    assert febrile["temperature_c"] == 39.5
    assert febrile["oxygen_l_min"] == 8.0
    assert (febrile["hypotension"], febrile["oxygen_device"]) == ("one_vasopressor", "face_mask")
    # grade 3 by hand: one vasopressor (R-CRS-3) and a face mask (R-CRS-4), febrile
    assert febrile["crs_grade"] == 3

    drugs = mine(out["drugs"], me)
    assert len(drugs) == (SAMPLE["drugs"]["patient_id"] == PATIENT).sum() == 17
    # drugs.csv: 2024-11-02T14:30:00, tocilizumab 490 mg iv -> day 1 d 4 h 30 min = 1.19
    toci = one(drugs, drug="tocilizumab", given_day=1.19)
    assert (toci["dose"], toci["dose_unit"], toci["route"]) == (490.0, "mg", "iv")
    norepinephrine = one(drugs, drug="norepinephrine")
    assert norepinephrine["dose"] == 0.05

    crs = one(mine(out["episodes"], me), syndrome="CRS")
    # Hand-checked from assessments.csv: CRS starts with the first fever (39.0 C at
    # 2024-11-02T06:10, day 0.84); tocilizumab follows, so fever is masked afterwards (R-CRS-2);
    # the worst row is 2024-11-03T14:05 (BiPAP = positive pressure: grade 4, R-CRS-4; the
    # vasopressor plus vasopressin alone would be grade 3, R-CRS-3), day 2 d 4 h 5 min = 2.17.
    assert crs["episode"] == 1
    assert crs["peak_grade"] == 4
    assert crs["onset_day"] == study_day("2024-11-02T06:10:00") == 0.84
    assert crs["peak_day"] == study_day("2024-11-03T14:05:00") == 2.17
    assert crs["tocilizumab_doses"] == 2  # 2024-11-02T14:30 and T22:30, both inside the episode
    assert crs["status"] == "resolved"


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_sample_row_is_exported(fmt: str, study: dict[str, Tables]) -> None:
    out = study[fmt]
    for table in ("patients", "assessments", "labs", "drugs", "events"):
        assert len(out[table]) == len(SAMPLE[table]), table
    assert len(out["patients"]) == 40
    assert out["labs"]["value"].sum() == pytest.approx(SAMPLE["labs"]["value"].sum())
    assert out["drugs"]["dose"].sum() == pytest.approx(SAMPLE["drugs"]["dose"].sum())
    assert sorted(out["events"]["event"]) == sorted(SAMPLE["events"]["event"])


def is_missing(value: Any) -> bool:
    """Missing as each format says it: NaN, None, NaT, or a blank text cell (SAS, SPSS, Stata)."""
    return value is None or value == "" or bool(pd.isna(value))


@pytest.mark.parametrize("fmt", FORMATS)
def test_missing_stays_missing(fmt: str, study: dict[str, Tables], shifted: dict[str, Tables],
                               key: PseudonymKey, me: str) -> None:  # fmt: skip
    out = study[fmt]
    # assessments.csv: S01-0001,2024-10-27T09:00:00 on room air: oxygen_l_min and capd_score blank
    first = one(mine(out["assessments"], me), observed_day=study_day("2024-10-27T09:00:00"))
    assert first["observed_day"] == -5.04
    assert is_missing(first["oxygen_l_min"])
    assert first["oxygen_l_min"] != 0
    assert is_missing(first["capd_score"])
    assert first["ice_score"] == 10  # the same row's recorded values are not missing
    # assessments.csv: 2024-11-01T18:05:00 has no ICE score and no seizure (blank cells)
    unscored = one(mine(out["assessments"], me), observed_day=study_day("2024-11-01T18:05:00"))
    assert is_missing(unscored["ice_score"])
    assert unscored["ice_score"] != 0
    assert is_missing(unscored["seizure"])
    # events.csv: S01-0008 retreatment has a blank cause (text)
    retreated = one(out["events"], pseudonym=pseudonym("S01-0008", key))
    assert retreated["event"] == "retreatment"
    assert is_missing(retreated["cause"])
    assert retreated["cause"] not in ("0", 0, False, "false")
    # patients.csv: S05-0002 has no lymphodepletion: blank day, and in shifted mode a blank time
    s05 = pseudonym("S05-0002", key)
    assert is_missing(one(out["patients"], pseudonym=s05)["lymphodepletion_start_day"])
    assert is_missing(one(shifted[fmt]["patients"], pseudonym=s05)["lymphodepletion_start_at"])
    assert not is_missing(one(out["patients"], pseudonym=me)["lymphodepletion_start_day"])


@pytest.mark.parametrize("fmt", STATISTICS)
def test_variable_labels(fmt: str, export: Callable[..., Path]) -> None:
    folder = export(fmt, DateMode.SHIFTED)
    variables = manifest(folder)["tables"]
    limit = {"xpt": 40, "sav": 256, "dta": 80}[fmt]
    read: dict[str, Callable[..., Any]] = {
        "xpt": pyreadstat.read_xport,
        "sav": pyreadstat.read_sav,
        "dta": pyreadstat.read_dta,
    }
    for table in TABLES:
        _, meta = read[fmt](folder / f"{table}.{fmt}", metadataonly=True)
        cols = columns(table, DateMode.SHIFTED)
        names = [variables[table]["variables"][c].get("name_in_file", c) for c in cols]
        assert meta.column_names == names, table
        expected = {name: LABELS[c][:limit] for name, c in zip(names, cols, strict=True)}
        assert meta.column_names_to_labels == expected, table
    if fmt == "xpt":  # a label longer than 40 characters is cut, the full one is in the manifest
        label = LABELS["steroid_dexamethasone_mg"]
        assert len(label) > 40
        episodes = variables["episodes"]["variables"]["steroid_dexamethasone_mg"]
        assert episodes == {"type": "real", "label": label, "name_in_file": "dex_mg"}


# -- date modes --------------------------------------------------------------------------------


def datetime_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[c])]


@pytest.mark.parametrize("fmt", FORMATS)
def test_study_day_mode_has_no_dates(fmt: str, study: dict[str, Tables]) -> None:
    for table, frame in study[fmt].items():
        assert list(frame.columns) == list(columns(table)), table
        assert not [c for c in frame.columns if c.endswith("_at")], table
        assert not datetime_columns(frame), table


@pytest.mark.parametrize("fmt", FORMATS)
def test_shifted_times_are_true_times_plus_the_patients_shift(
    fmt: str, shifted: dict[str, Tables], key: PseudonymKey, me: str
) -> None:
    out = shifted[fmt]
    shift = date_shift(PATIENT, key)
    assert timedelta(days=-364) <= shift <= timedelta(days=-1)
    patient = one(out["patients"], pseudonym=me)
    assert pd.Timestamp(patient["infusion_at"]) == INFUSION + shift
    assert pd.Timestamp(patient["lymphodepletion_start_at"]) == (
        pd.Timestamp("2024-10-27T08:40:00") + shift)  # fmt: skip
    anc = one(mine(out["labs"], me), analyte="anc", collected_day=4.84)
    assert pd.Timestamp(anc["collected_at"]) == pd.Timestamp("2024-11-06T06:09:00") + shift
    assert anc["value"] == 1.15
    toci = one(mine(out["drugs"], me), drug="tocilizumab", given_day=1.19)
    assert pd.Timestamp(toci["given_at"]) == pd.Timestamp("2024-11-02T14:30:00") + shift
    crs = one(mine(out["episodes"], me), syndrome="CRS")
    assert pd.Timestamp(crs["peak_at"]) == pd.Timestamp("2024-11-03T14:05:00") + shift
    # every patient's infusion moves by that patient's own shift
    true = SAMPLE["patients"].set_index("patient_id")["infusion_at"]
    by_name = {pseudonym(pid, key): pid for pid in true.index}
    for name, at in zip(out["patients"]["pseudonym"], out["patients"]["infusion_at"], strict=True):
        study_id = by_name[name]
        assert pd.Timestamp(at) == pd.Timestamp(true[study_id]) + date_shift(study_id, key)
    for table, frame in out.items():
        assert list(frame.columns) == list(columns(table, DateMode.SHIFTED)), table


# -- chunks, manifest, access ------------------------------------------------------------------


def test_chunk_size_does_not_change_the_files(export: Callable[..., Path]) -> None:
    small = read_back(export("parquet", DateMode.SHIFTED, chunk_patients=7), "parquet")
    whole = read_back(export("parquet", DateMode.SHIFTED, chunk_patients=250), "parquet")
    for table in TABLES:
        pd.testing.assert_frame_equal(small[table], whole[table], obj=table)
    assert len(small["labs"]) == len(SAMPLE["labs"])


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dates", list(DateMode), ids=[d.value for d in DateMode])
def test_manifest_counts_the_rows_read_back(
    fmt: str, dates: DateMode, export: Callable[..., Path],
    study: dict[str, Tables], shifted: dict[str, Tables],
) -> None:  # fmt: skip
    folder = export(fmt, dates)
    data = manifest(folder)
    out = (study if dates is DateMode.STUDY_DAY else shifted)[fmt]
    assert (data["export"], data["format"], data["dates"]) == ("tidy", fmt, dates.value)
    assert {t: v["rows"] for t, v in data["tables"].items()} == {t: len(out[t]) for t in TABLES}
    assert data["tables"]["labs"]["rows"] == len(SAMPLE["labs"])


def test_a_nurse_is_refused_and_nothing_is_written(module_engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "out"
    nurse = demo(module_engine, "nurse-s01")
    for fmt in FORMATS:
        with pytest.raises(AccessDeniedError):
            write_tidy(module_engine, nurse, ExportRequest(), out, fmt)
        assert not out.exists(), fmt


@pytest.mark.parametrize("table", ["assessments", "episodes", "drugs"])
def test_statistics_from_the_spool_equal_the_whole_frame_conversion(table: str) -> None:
    """The column-by-column conversion for pyreadstat gives exactly what converting the whole
    typed frame gives: every kind of column (text, real, integer, boolean, date-time), with a
    missing value in each and a row with a value in each."""
    import pyarrow as pa

    from dashboard.exports.tidy import (
        Kind,
        arrow_schema,
        column_kind,
        statistics_frame,
        statistics_from_arrow,
        typed,
    )

    request = ExportRequest(dates=DateMode.SHIFTED)
    samples = {
        Kind.TEXT: ["P-0123456789ab", None, "x"],
        Kind.REAL: [37.95, None, 0.0],
        Kind.INTEGER: [3, None, 0],
        Kind.BOOLEAN: [True, None, False],
        Kind.DATETIME: [pd.Timestamp("2024-11-02 06:10:07"), None, pd.Timestamp("2024-01-01")],
    }
    names = columns(table, DateMode.SHIFTED)
    frame = typed(pd.DataFrame({c: samples[column_kind(c)] for c in names}), table, request)
    spooled = pa.Table.from_pandas(frame, schema=arrow_schema(table, request), preserve_index=False)
    pd.testing.assert_frame_equal(statistics_from_arrow(spooled), statistics_frame(frame))
    kinds = {column_kind(c) for c in names}
    assert {Kind.TEXT, Kind.REAL, Kind.DATETIME} <= kinds  # the table exercises several kinds
