"""SDTM-shaped export: required variables, --DY without a day 0, AE per episode, seriousness,
CTCAE lab grades at every cut-point, vital-sign units, SUPPAE links, study-day mode.

The sample cohort is exported once per date mode for the module (a private copy of the sample
template); the cut-point tests build small frames by hand and call the domain functions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest
from sqlalchemy import Engine

from dashboard.exports.sdtm import (
    DATASET_LABELS,
    DOMAINS,
    FATAL,
    NOT_RECOVERED,
    RECOVERED,
    REQUIRED,
    UNFILLED_REQUIRED,
    UNKNOWN_OUTCOME,
    VARIABLES,
    SdtmOptions,
    SeriousnessRule,
    ae_frames,
    dm_frame,
    follow_up_end,
    lb_frame,
    read_sdtm_csv,
    sdtm_study_day,
    write_sdtm,
)
from dashboard.exports.source import DateMode, ExportRequest, export_key
from dashboard.services.deidentify import pseudonym
from dashboard.store.errors import AccessDeniedError
from dashboard.store.unit_of_work import UnitOfWork
from grading.records import Analyte
from tests.sample_accounts import demo


def _export(engine: Engine, folder: Path, dates: DateMode) -> dict[str, pd.DataFrame]:
    actor = demo(engine, "researcher")
    write_sdtm(engine, actor, ExportRequest(dates=dates, chunk_patients=15), folder)
    return {d: read_sdtm_csv(folder / f"{d.lower()}.csv", d) for d in DOMAINS}


@pytest.fixture(scope="module")
def shifted_dir(module_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sdtm_shifted")
    _export(module_engine, folder, DateMode.SHIFTED)
    return folder


@pytest.fixture(scope="module")
def shifted(shifted_dir: Path) -> dict[str, pd.DataFrame]:
    return {d: read_sdtm_csv(shifted_dir / f"{d.lower()}.csv", d) for d in DOMAINS}


@pytest.fixture(scope="module")
def study_day_dir(module_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sdtm_study_day")
    _export(module_engine, folder, DateMode.STUDY_DAY)
    return folder


def _usubjid(engine: Engine, study_id: str) -> str:
    key = export_key(engine, demo(engine, "researcher"))
    return f"CARTWATCH-{pseudonym(study_id, key)}"


# --- --DY (SDTMIG 3.4 section 4.4.4) --------------------------------------------------------------


def test_study_day_is_1_on_the_infusion_day_and_minus_1_the_day_before() -> None:
    infusion = pd.Timestamp("2024-05-21T10:00")
    at = pd.Series(
        pd.to_datetime(
            [
                "2024-05-21T10:00",  # the infusion itself -> 1
                "2024-05-21T00:05",  # earlier the same day -> 1 (date portion only)
                "2024-05-20T23:59",  # the day before -> -1
                "2024-05-22T00:01",  # the day after -> 2
                "2024-05-16T08:00",  # 5 days before (lymphodepletion) -> -5
                "2024-08-29T12:00",  # 100 days after -> 101
            ]
        )
    )
    days = sdtm_study_day(at, pd.Series([infusion] * len(at)))
    assert days.tolist() == [1, 1, -1, 2, -5, 101]
    assert 0 not in days.tolist()


def test_study_day_is_blank_without_a_time() -> None:
    days = sdtm_study_day(pd.Series([pd.NaT]), pd.Series([pd.Timestamp("2024-05-21")]))
    assert days.isna().all()


def _independent_dy(dtc: str, rfstdtc: str) -> int:
    """SDTMIG 4.4.4 recomputed from the ISO strings with datetime.date (no pandas)."""
    delta = (date.fromisoformat(dtc[:10]) - date.fromisoformat(rfstdtc[:10])).days
    return delta + 1 if delta >= 0 else delta


@pytest.mark.parametrize(("domain", "dtc", "dy"), [("LB", "LBDTC", "LBDY"), ("VS", "VSDTC", "VSDY"),
                                                    ("AE", "AESTDTC", "AESTDY")])  # fmt: skip
def test_every_study_day_of_the_export_matches_its_date(
    shifted: dict[str, pd.DataFrame], domain: str, dtc: str, dy: str
) -> None:
    rfstdtc = shifted["DM"].set_index("USUBJID")["RFSTDTC"]
    frame = shifted[domain]
    expected = [
        _independent_dy(d, rfstdtc[u]) for d, u in zip(frame[dtc], frame["USUBJID"], strict=True)
    ]
    assert frame[dy].astype(int).tolist() == expected
    assert (frame[dy] < 0).any() or domain == "AE"  # labs and vitals before the infusion exist
    assert not (frame[dy] == 0).any()


# --- required variables, order, XPT --------------------------------------------------------------


@pytest.mark.parametrize("domain", DOMAINS)
def test_required_variables_are_present_in_sdtm_order_and_filled(
    shifted: dict[str, pd.DataFrame], shifted_dir: Path, domain: str
) -> None:
    frame = shifted[domain]
    assert tuple(frame.columns) == VARIABLES[domain]
    assert len(frame) > 0
    gaps = UNFILLED_REQUIRED.get(domain, {})
    for name in REQUIRED[domain]:
        assert name in frame.columns
        blank = frame[name].isna() | (frame[name].astype(str) == "")
        if name in gaps:
            assert blank.all(), f"{domain}.{name} is documented as unfilled"
        else:
            assert not blank.any(), f"{domain}.{name} is required and has blanks"
    data, meta = pyreadstat.read_xport(str(shifted_dir / f"{domain.lower()}.xpt"))
    assert tuple(data.columns) == VARIABLES[domain]
    assert meta.table_name == domain
    assert meta.file_label == DATASET_LABELS[domain]
    assert len(data) == len(frame)
    assert all(len(label or "") <= 40 for label in meta.column_labels)
    assert all(len(name) <= 8 for name in data.columns)


def test_dm_country_is_filled_from_a_site_map() -> None:
    patients = pd.DataFrame(
        {"pseudonym": ["P-a", "P-b"], "site_id": ["S01", "S02"], "product": ["cd19_car_t"] * 2,
         "infusion_at": pd.to_datetime(["2024-01-01T10:00", "2024-02-01T10:00"]),
         "age_years": [30.0, None], "sex": ["female", None]}
    )  # fmt: skip
    events = pd.DataFrame({"pseudonym": ["P-b"], "event": ["death"],
                           "occurred_at": pd.to_datetime(["2024-03-01T12:00"])})  # fmt: skip
    options = SdtmOptions(countries={"S01": "DEU", "S02": "FRA"})
    dm = dm_frame(patients, events, DateMode.SHIFTED, options)
    assert dm["COUNTRY"].tolist() == ["DEU", "FRA"]
    assert dm["SEX"].tolist() == ["F", "U"]  # not recorded -> U, never guessed
    assert dm["AGEU"].tolist() == ["YEARS", ""]
    assert dm["DTHFL"].tolist() == ["", "Y"]
    assert dm["DTHDTC"].tolist() == ["", "2024-03-01T12:00:00"]
    assert dm["RFSTDTC"].tolist() == ["2024-01-01T10:00:00", "2024-02-01T10:00:00"]


# --- AE: one per episode, hand-checked sample patient ---------------------------------------------


def test_sample_patient_s02_0001_has_one_crs_and_one_icans_adverse_event(
    shifted: dict[str, pd.DataFrame], module_engine: Engine
) -> None:
    # By hand from sample_data/cohort/assessments.csv (infusion 2024-04-08T10:00, study day 0):
    # - CRS: first fever 38.3 C on room air without hypotension at 2024-04-09T06:07 -> grade 1
    #   (criteria.md 1.1), study day 1 -> AESTDY 2; no hypotension or oxygen later -> peak 1.
    # - ICANS: ICE 8 at 2024-04-11T06:03 -> grade 1 (ICE 7-9, criteria.md 2.2), day 3 -> AESTDY
    #   4; ICE 2 with a self-limiting seizure at 2024-04-12T14:01 -> grade 3 (ICE 0-2; any
    #   seizure that resolves rapidly); ICE 8 until 2024-04-15T06:07, ICE 10 and alert from
    #   2024-04-15T14:09 on -> resolved there (EpisodePolicy: first of >= 24 h finding-free),
    #   day 7 -> AEENDY 8. Grade 3 >= 3 -> serious; resolved -> RECOVERED/RESOLVED.
    ae = shifted["AE"]
    usubjid = _usubjid(module_engine, "S02-0001")
    mine = ae[ae["USUBJID"] == usubjid].reset_index(drop=True)
    assert mine["AESPID"].tolist() == ["CRS-1", "ICANS-1"]
    assert mine["AESEQ"].tolist() == [1, 2]
    assert mine["AEDECOD"].tolist() == [
        "Cytokine release syndrome",
        "Immune effector cell-associated neurotoxicity syndrome",
    ]
    assert mine["AETOXGR"].tolist() == ["1", "3"]
    assert mine["AESER"].tolist() == ["N", "Y"]
    assert mine["AEOUT"].tolist() == [RECOVERED, RECOVERED]
    assert mine["AESTDY"].tolist() == [2, 4]
    assert mine.loc[1, "AEENDY"] == 8
    rfstdtc = str(shifted["DM"].set_index("USUBJID").loc[usubjid, "RFSTDTC"])
    assert rfstdtc.endswith("T10:00:00")  # the shift moves whole days: time of day kept
    assert str(mine.loc[1, "AESTDTC"]).endswith("T06:03:00")
    assert str(mine.loc[1, "AEENDTC"]).endswith("T14:09:00")


def _episodes(grades: list[int], statuses: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = len(grades)
    onset = pd.to_datetime([f"2024-01-{2 + i:02d}T08:00" for i in range(n)])
    episodes = pd.DataFrame(
        {"pseudonym": ["P-x"] * n, "syndrome": ["CRS"] * n, "episode": range(1, n + 1),
         "onset_at": onset, "resolved_at": onset + pd.Timedelta(hours=12),
         "peak_grade": grades, "status": statuses}
    )  # fmt: skip
    episodes.loc[episodes["status"] == "ongoing", "resolved_at"] = pd.NaT
    patients = pd.DataFrame(
        {"pseudonym": ["P-x"], "infusion_at": pd.to_datetime(["2024-01-01T10:00"])}
    )
    return episodes, patients


def test_aeser_is_n_at_grade_2_and_y_at_grade_3_by_default() -> None:
    episodes, patients = _episodes([2, 3], ["resolved", "resolved"])
    ae, _ = ae_frames(episodes, patients, DateMode.SHIFTED, SdtmOptions())
    assert ae["AETOXGR"].tolist() == ["2", "3"]
    assert ae["AESER"].tolist() == ["N", "Y"]


def test_aeser_cut_is_configurable() -> None:
    episodes, patients = _episodes([1, 2], ["resolved", "resolved"])
    rule = SeriousnessRule(min_grade=2)
    ae, _ = ae_frames(episodes, patients, DateMode.SHIFTED, SdtmOptions(seriousness=rule))
    assert ae["AESER"].tolist() == ["N", "Y"]


def test_fatal_episode_is_serious_and_ongoing_without_follow_up_is_unknown() -> None:
    episodes, patients = _episodes([5, 1], ["ongoing", "ongoing"])
    ae, _ = ae_frames(episodes, patients, DateMode.SHIFTED, SdtmOptions())
    assert ae["AEOUT"].tolist() == [FATAL, UNKNOWN_OUTCOME]
    assert ae["AESDTH"].tolist() == ["Y", "N"]
    assert ae["AESER"].tolist() == ["Y", "N"]
    assert ae["AEENDTC"].tolist() == ["", ""]
    assert ae["AEENDY"].isna().all()


def _follow_up(
    last_grade: float | None, lab_at: str | None = None, syndrome: str = "CRS"
) -> pd.DataFrame:
    """P-x's tables: assessments on 2024-01-02 (grade 2) and 2024-01-03T08:00 (``last_grade`` for
    ``syndrome``, the other syndrome 0), and a lab at ``lab_at``."""
    other = 0.0
    grades = [2.0, last_grade]
    tables = {
        "assessments": pd.DataFrame(
            {"pseudonym": "P-x",
             "observed_at": pd.to_datetime(["2024-01-02T08:00", "2024-01-03T08:00"]),
             "crs_grade": grades if syndrome == "CRS" else [other, other],
             "icans_grade": grades if syndrome == "ICANS" else [other, other]}
        ),
        "labs": pd.DataFrame(
            {"pseudonym": ["P-x"] if lab_at else [],
             "collected_at": pd.to_datetime([lab_at] if lab_at else [])}
        ),
        "drugs": pd.DataFrame({"pseudonym": [], "given_at": pd.to_datetime([])}),
        "events": pd.DataFrame({"pseudonym": [], "occurred_at": pd.to_datetime([])}),
    }  # fmt: skip
    return follow_up_end(tables)


def _aeout(follow_up: pd.DataFrame, status: str = "ongoing", syndrome: str = "CRS") -> str:
    episodes, patients = _episodes([2], [status])
    episodes["syndrome"] = syndrome
    ae, _ = ae_frames(episodes, patients, DateMode.SHIFTED, SdtmOptions(), follow_up)
    return str(ae["AEOUT"].iloc[0])


@pytest.mark.parametrize("syndrome", ["CRS", "ICANS"])
def test_unresolved_episode_still_graded_at_the_end_of_follow_up_is_not_recovered(
    syndrome: str,
) -> None:
    # Last assessment graded 1 and the last record of the patient: documented not resolved.
    assert _aeout(_follow_up(1.0, syndrome=syndrome), syndrome=syndrome) == NOT_RECOVERED
    # A lab later the same day is still the last day of follow-up.
    late_lab = _follow_up(1.0, "2024-01-03T23:59", syndrome)
    assert _aeout(late_lab, syndrome=syndrome) == NOT_RECOVERED


@pytest.mark.parametrize("syndrome", ["CRS", "ICANS"])
def test_unresolved_episode_without_the_event_documented_at_the_end_is_unknown(
    syndrome: str,
) -> None:
    # Graded 0 last (resolution rule not yet met), not gradable last, or records going on the
    # next day with no assessment: follow-up ended without a documented outcome -> UNKNOWN.
    assert _aeout(_follow_up(0.0, syndrome=syndrome), syndrome=syndrome) == UNKNOWN_OUTCOME
    assert _aeout(_follow_up(None, syndrome=syndrome), syndrome=syndrome) == UNKNOWN_OUTCOME
    next_day = _follow_up(1.0, "2024-01-04T00:00", syndrome)
    assert _aeout(next_day, syndrome=syndrome) == UNKNOWN_OUTCOME


def test_the_other_syndromes_grade_does_not_document_this_one() -> None:
    # CRS graded 2 at the last assessment says nothing about an ICANS episode (ICANS 0 there).
    assert _aeout(_follow_up(2.0, syndrome="CRS"), syndrome="ICANS") == UNKNOWN_OUTCOME


def test_resolved_and_fatal_outcomes_do_not_depend_on_follow_up() -> None:
    assert _aeout(_follow_up(None, "2024-03-01T00:00"), status="resolved") == RECOVERED
    episodes, patients = _episodes([5], ["ongoing"])
    ae, _ = ae_frames(episodes, patients, DateMode.SHIFTED, SdtmOptions(), _follow_up(None))
    assert ae["AEOUT"].tolist() == [FATAL]


def test_every_sample_outcome_is_a_cdisc_out_term_and_ongoing_is_never_recovered(
    shifted: dict[str, pd.DataFrame],
) -> None:
    ae = shifted["AE"]
    assert set(ae["AEOUT"]) <= {RECOVERED, NOT_RECOVERED, UNKNOWN_OUTCOME, FATAL}
    ongoing = ae[ae["AEENDTC"] == ""]
    assert not (ongoing["AEOUT"] == RECOVERED).any()
    assert (ae.loc[ae["AEENDTC"] != "", "AEOUT"].isin([RECOVERED, FATAL])).all()


def test_study_day_mode_leaves_ae_dates_empty_but_keeps_study_days() -> None:
    episodes, patients = _episodes([2], ["resolved"])
    ae, _ = ae_frames(episodes, patients, DateMode.STUDY_DAY, SdtmOptions())
    assert ae["AESTDTC"].tolist() == [""]
    assert ae["AEENDTC"].tolist() == [""]
    assert ae["AESTDY"].tolist() == [2]  # 2024-01-02 vs infusion 2024-01-01: day 2


# --- SUPPAE -------------------------------------------------------------------------------------


def test_suppae_records_link_to_their_ae_by_aeseq(shifted: dict[str, pd.DataFrame]) -> None:
    ae, supp = shifted["AE"], shifted["SUPPAE"]
    assert len(supp) == 2 * len(ae)
    assert set(supp["RDOMAIN"]) == {"AE"}
    assert set(supp["IDVAR"]) == {"AESEQ"}
    keyed = ae.assign(IDVARVAL=ae["AESEQ"].astype(int).astype(str)).set_index(
        ["USUBJID", "IDVARVAL"]
    )
    grades = supp[supp["QNAM"] == "ASTCTGR"].set_index(["USUBJID", "IDVARVAL"])["QVAL"]
    assert grades.index.isin(keyed.index).all()
    assert (grades == keyed.loc[grades.index, "AETOXGR"]).all()
    scale = supp[supp["QNAM"] == "AETOXSCL"]
    assert set(scale["QVAL"]) == {"ASTCT 2019"}
    assert len(scale) == len(ae)
    assert set(supp["QORIG"]) <= {"DERIVED", "ASSIGNED"}


# --- LB: CTCAE v5.0 grades at every cut-point ------------------------------------------------------


def _lab_grades(analyte: str, unit: str, values: Sequence[float], sex: str = "female") -> list[str]:
    labs = pd.DataFrame(
        {"pseudonym": "P-x", "collected_at": pd.date_range("2024-01-02", periods=len(values),
                                                             freq="h"),
         "analyte": analyte, "value": values, "unit": unit, "loinc": None}
    )  # fmt: skip
    patients = pd.DataFrame(
        {"pseudonym": ["P-x"], "infusion_at": pd.to_datetime(["2024-01-01T10:00"]), "sex": [sex]}
    )
    lb = lb_frame(labs, patients, DateMode.SHIFTED, SdtmOptions())
    return lb.sort_values("LBSEQ")["LBTOXGR"].tolist()


def test_neutrophil_grade_on_both_sides_of_each_cut() -> None:
    # grading.ctcae_v5_cytopenia (CTCAE v5.0, [U]), default LLN 1800 cells/uL:
    # >= LLN 0 | 1500 <= ANC < LLN 1 | 1000 <= ANC < 1500 2 | 500 <= ANC < 1000 3 | < 500 4
    values = [1800, 1799, 1500, 1499, 1000, 999, 500, 499]
    assert _lab_grades("anc", "cells/uL", values) == ["0", "1", "1", "2", "2", "3", "3", "4"]


def test_neutrophils_in_10e9_per_litre_are_converted_before_grading() -> None:
    assert _lab_grades("anc", "10^9/L", [0.5, 0.499]) == ["3", "4"]


def test_platelet_grade_on_both_sides_of_each_cut() -> None:
    # LLN 150 x10^9/L: >= 150 0 | 75-<150 1 | 50-<75 2 | 25-<50 3 | < 25 4
    values = [150, 149.9, 75, 74.9, 50, 49.9, 25, 24.9]
    assert _lab_grades("platelets", "10^9/L", values) == ["0", "1", "1", "2", "2", "3", "3", "4"]


def test_haemoglobin_grade_on_both_sides_of_each_cut_and_never_4() -> None:
    # Female LLN 12.0 g/dL: >= 12 0 | 10-<12 1 | 8-<10 2 | < 8 3; grade 4 is clinical only.
    values = [12.0, 11.9, 10.0, 9.9, 8.0, 7.9, 4.0]
    assert _lab_grades("hemoglobin", "g/dL", values) == ["0", "1", "1", "2", "2", "3", "3"]


def test_male_haemoglobin_uses_the_male_lln() -> None:
    # Male LLN 13.5 g/dL: 13.5 -> 0, 13.4 -> 1 (a woman's 13.4 is grade 0).
    assert _lab_grades("hemoglobin", "g/dL", [13.5, 13.4], sex="male") == ["0", "1"]
    assert _lab_grades("hemoglobin", "g/dL", [13.4], sex="female") == ["0"]


def test_analytes_without_ctcae_rows_have_no_toxicity_grade() -> None:
    # Lymphocytes are CTCAE-graded in the CTCAE document, but no thresholds are in the repository.
    assert _lab_grades("lymphocytes", "cells/uL", [100, 5000]) == ["", ""]
    assert _lab_grades("crp", "mg/L", [250]) == [""]


def test_lab_rows_carry_cdisc_codes_and_both_units(shifted: dict[str, pd.DataFrame]) -> None:
    lb = shifted["LB"]
    neut = lb[lb["LBTESTCD"] == "NEUT"]
    assert set(neut["LBTEST"]) == {"Neutrophils"}
    assert set(neut["LBSTRESU"]) == {"/uL"}
    assert set(neut["LBLOINC"]) == {"751-8"}
    reported = neut[neut["LBORRESU"] == "10^9/L"].iloc[0]
    assert reported["LBSTRESN"] == pytest.approx(float(reported["LBORRES"]) * 1000)
    assert set(lb.loc[lb["LBTESTCD"] == "LYM", "LBTOXGR"]) == {""}
    graded = lb[lb["LBTESTCD"].isin(["NEUT", "PLAT", "HGB"])]
    assert (graded["LBTOXGR"] != "").all()


def _lb_loinc(rows: list[tuple[str, str, str | None]]) -> list[str]:
    labs = pd.DataFrame(
        {"pseudonym": "P-x",
         "collected_at": pd.date_range("2024-01-02", periods=len(rows), freq="h"),
         "analyte": [r[0] for r in rows], "value": 5.0, "unit": [r[1] for r in rows],
         "loinc": [r[2] for r in rows]}
    )  # fmt: skip
    patients = pd.DataFrame(
        {"pseudonym": ["P-x"], "infusion_at": pd.to_datetime(["2024-01-01T10:00"]),
         "sex": ["female"]}
    )  # fmt: skip
    lb = lb_frame(labs, patients, DateMode.SHIFTED, SdtmOptions())
    return lb.sort_values("LBSEQ")["LBLOINC"].tolist()


def test_lbloinc_is_only_the_c_tagged_code_of_the_analyte() -> None:
    # criteria.md 8.3: 26881-3 IL-6 [C], 751-8 ANC [C]; 8116-6/8117-4 CD19 [S]; creatinine none.
    rows = [
        ("il6", "pg/mL", "26881-3"),  # the [C] code: kept
        ("il6", "pg/mL", "2276-4"),  # ferritin's code on an IL-6 result: blank
        ("anc", "cells/uL", " 751-8 "),  # the [C] code with stray blanks: kept, trimmed
        ("cd19_absolute", "cells/uL", "8116-6"),  # [S]: blank
        ("cd19_percent", "%", "8117-4"),  # [S]: blank
        ("creatinine", "mg/dL", "2160-0"),  # no [C] code in 8.3: blank
        ("crp", "mg/L", None),  # none stored: blank (LBLOINC is the code reported with it)
    ]
    assert _lb_loinc(rows) == ["26881-3", "", "751-8", "", "", "", ""]


def test_an_s_tagged_cd19_code_stored_through_the_store_leaves_lbloinc_blank(
    sample_engine: Engine, tmp_path: Path
) -> None:
    # S01-0001's CD19 count of 2024-10-27T07:40 is corrected to carry 8116-6 ([S] in 8.3).
    drawn = datetime(2024, 10, 27, 7, 40)
    with UnitOfWork(sample_engine, demo(sample_engine, "nurse-s01")) as uow:
        for record in uow.labs.current("S01-0001"):
            lab = record.values
            if lab.collected_at == drawn and lab.analyte is Analyte.CD19_ABSOLUTE:
                uow.labs.correct(
                    record.record_id,
                    record.version,
                    lab.model_copy(update={"loinc": "8116-6"}),
                    "lab report",
                )
        uow.commit()
    lb = _export(sample_engine, tmp_path / "out", DateMode.STUDY_DAY)["LB"]
    mine = lb[lb["USUBJID"] == _usubjid(sample_engine, "S01-0001")]
    cd19 = mine[(mine["LBTESTCD"] == "CD19") & (mine["LBORRES"] == "67.5")]
    assert len(cd19) == 1
    assert cd19["LBLOINC"].tolist() == [""]
    assert set(lb["LBLOINC"]) == {"", "751-8", "731-0", "1988-5", "2276-4", "3255-7", "718-7",
                                  "777-3", "2465-3"}  # fmt: skip


# --- VS --------------------------------------------------------------------------------------------


def test_vital_signs_have_cdisc_test_codes_and_units(shifted: dict[str, pd.DataFrame]) -> None:
    vs = shifted["VS"]
    units = vs.groupby("VSTESTCD")[["VSORRESU", "VSSTRESU"]].agg(set)
    assert units["VSORRESU"].to_dict() == {
        "TEMP": {"C"}, "HR": {"beats/min"}, "SYSBP": {"mmHg"}, "DIABP": {"mmHg"},
        "OXYSAT": {"%"}, "RESP": {"breaths/min"},
    }  # fmt: skip
    assert (units["VSORRESU"] == units["VSSTRESU"]).all()


def test_one_assessment_of_s02_0001_gives_six_vital_sign_rows(
    shifted: dict[str, pd.DataFrame], module_engine: Engine
) -> None:
    # assessments.csv, S02-0001 at 2024-04-11T22:01 (study day 3 -> VSDY 4):
    # 36.6 C, HR 63, 116/72 mmHg, SpO2 97 %, RR 17.
    vs = shifted["VS"]
    mine = vs[(vs["USUBJID"] == _usubjid(module_engine, "S02-0001"))
              & vs["VSDTC"].str.endswith("T22:01:00") & (vs["VSDY"] == 4)]  # fmt: skip
    got = dict(zip(mine["VSTESTCD"], mine["VSSTRESN"], strict=True))
    assert got == {"TEMP": 36.6, "HR": 63, "SYSBP": 116, "DIABP": 72, "OXYSAT": 97, "RESP": 17}


# --- study-day mode --------------------------------------------------------------------------------

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def test_study_day_mode_writes_no_date_and_the_same_study_days(
    shifted: dict[str, pd.DataFrame], study_day_dir: Path
) -> None:
    for path in study_day_dir.iterdir():
        if path.suffix in {".csv", ".md", ".json"}:
            assert not _DATE.search(path.read_text(encoding="utf-8")), path.name
    for domain, dtc_names, dy_names in (
        ("DM", ("RFSTDTC", "RFXSTDTC", "DTHDTC"), ()),
        ("AE", ("AESTDTC", "AEENDTC"), ("AESTDY", "AEENDY")),
        ("LB", ("LBDTC",), ("LBDY",)),
        ("VS", ("VSDTC",), ("VSDY",)),
    ):
        frame = read_sdtm_csv(study_day_dir / f"{domain.lower()}.csv", domain)
        for name in dtc_names:
            assert (frame[name] == "").all(), f"{domain}.{name}"
        for name in dy_names:
            pd.testing.assert_series_equal(frame[name], shifted[domain][name])
    notes = (study_day_dir / "define_notes.md").read_text(encoding="utf-8")
    assert "**Study day**" in notes
    assert "ASTCT 2019" in notes


def test_the_export_carries_its_manifest(shifted_dir: Path) -> None:
    import json

    manifest = json.loads((shifted_dir / "manifest.json").read_text(encoding="utf-8"))
    assert "pseudonym key id" in manifest
    assert "removed: dates and times" in manifest
    for domain in DOMAINS:
        head = (shifted_dir / f"{domain.lower()}.csv").read_text(encoding="utf-8").splitlines()[0]
        assert head.startswith("# scheme:")


def test_a_nurse_may_not_export_and_nothing_is_written(
    sample_engine: Engine, tmp_path: Path
) -> None:
    nurse = demo(sample_engine, "nurse-s01")
    with pytest.raises(AccessDeniedError):
        write_sdtm(sample_engine, nurse, ExportRequest(), tmp_path / "out")
    assert not (tmp_path / "out").exists()
