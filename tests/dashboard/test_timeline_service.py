"""The timeline service on the hand-built world (test_timeline_world): values at the right day,
reasons with the rows of the paper, windows, drugs, labs, episodes and site isolation."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from test_timeline_world import INFUSION, TODAY, at, build_world

from dashboard.services.timeline import (
    Timeline,
    explain,
    patient_timeline,
    selected_record,
    visible_patients,
)
from dashboard.store.access import Actor
from dashboard.store.errors import AccessDeniedError, NotFoundError

World = tuple[Engine, dict[str, Actor]]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    engine, actors, _ = build_world(tmp_path_factory.mktemp("timeline"))
    return engine, actors


@pytest.fixture(scope="module")
def acute(world: World) -> Timeline:
    engine, actors = world
    return patient_timeline(engine, actors["physician1"], "P1", now=TODAY)


def x_of(day: int, hour: int) -> float:
    return day + hour / 24


def test_points_carry_the_stored_grades_at_their_study_day(acute: Timeline) -> None:
    p = acute.points
    assert list(p["day"]) == [-5, 1, 1, 2]
    assert list(p["x"]) == pytest.approx([x_of(-5, 9), x_of(1, 8), x_of(1, 12), x_of(2, 8)])
    assert list(p["crs_grade"].astype("float").fillna(-1)) == [0, 3, 1, -1]
    assert list(p["crs_status"]) == ["no_toxicity", "graded", "graded", "not_gradable"]
    assert list(p["icans_status"]) == ["no_toxicity", "no_toxicity", "not_gradable", "no_toxicity"]
    assert list(p["masked"]) == [False, False, True, True]
    assert list(p["source"]) == ["stored"] * 4
    assert p["flags"][1] == "tocilizumab=indicated, steroids, icu"
    assert list(p["temperature_c"]) == [36.8, 39.0, 38.5, 37.0]
    assert p["oxygen_l_min"][1] == 4.0
    assert acute.today == 2
    assert (acute.start_x, acute.end_x) == (-5.0, 3.0)


def test_explain_names_the_rules_that_fired_with_their_source(acute: Timeline) -> None:
    detail = explain(acute, str(acute.points["record_id"][1]))
    assert detail.day == 1
    assert detail.observed_at == at(1, 8)
    assert detail.crs.headline == "CRS grade 3"
    assert [r.rule_id for r in detail.crs.rules] == [
        "CRS-FEVER", "CRS-HYPOTENSION-3", "CRS-HYPOXIA-2-NASAL",
    ]  # fmt: skip
    hypotension = detail.crs.rules[1]
    assert hypotension.grade == 3
    assert (
        hypotension.source_text == "Hypotension requiring a vasopressor with or without vasopressin"
    )
    assert hypotension.citation == "Lee 2019 ASTCT CRS table"
    assert detail.icans.headline == "ICANS grade 0 (no toxicity)"
    assert detail.policy == "ASCO 2021"
    assert detail.flags == "tocilizumab=indicated, steroids, icu"


def test_a_blank_ice_is_not_assessed_and_a_masked_fever_says_so(acute: Timeline) -> None:
    not_done = explain(acute, str(acute.points["record_id"][2]))
    assert not_done.icans.headline == "ICANS not gradable: not assessed"
    assert not_done.icans.not_assessed == "ice_score"
    assert not_done.masked
    masked = explain(acute, str(acute.points["record_id"][3]))
    assert masked.crs.headline == (
        "CRS not gradable: fever masked by therapy, grade left to the clinician"
    )
    assert "CRS-MASKED" in [r.rule_id for r in masked.crs.rules]
    with pytest.raises(KeyError):
        explain(acute, "no-such-record")


def test_drugs_labs_and_episodes_of_the_acute_view(acute: Timeline) -> None:
    drugs = acute.drugs
    assert list(zip(drugs["drug"], drugs["group"], drugs["day"], strict=True)) == [
        ("norepinephrine", "vasopressor", 1), ("tocilizumab", "tocilizumab", 1),
    ]  # fmt: skip
    crp = acute.labs[acute.labs["analyte"] == "crp"]
    assert list(crp["value_canonical"]) == [120.0]  # 12 mg/dL converted to mg/L
    assert list(crp["unit_canonical"]) == ["mg/L"]
    assert "igg" not in set(acute.labs["analyte"])  # day 35: long-term view only
    episode = acute.episodes.iloc[0]
    assert (episode["syndrome"], episode["peak_grade"], episode["status"]) == ("CRS", 3, "ongoing")
    assert episode["onset_x"] == pytest.approx(x_of(1, 8))
    assert episode["end_x"] == acute.end_x  # ongoing: to the end of the view


def test_the_long_term_view_reaches_the_last_record(world: World) -> None:
    engine, actors = world
    late = patient_timeline(engine, actors["physician1"], "P1", window="long_term", now=TODAY)
    assert late.end_x == 37.0  # IVIG on day 36
    igg = late.labs[late.labs["analyte"] == "igg"]
    assert list(zip(igg["day"], igg["value_canonical"], strict=True)) == [(35, 350.0)]
    assert list(late.drugs.loc[late.drugs["group"] == "IVIG", "day"]) == [36]
    assert late.immunoglobulin.igg_threshold_mg_dl == 400
    assert late.bcells.aplasia_below_percent_of_lymphocytes == 1.0


def test_a_patient_of_another_site_is_refused(world: World) -> None:
    engine, actors = world
    with pytest.raises(AccessDeniedError):
        patient_timeline(engine, actors["physician2"], "P1")
    with pytest.raises(AccessDeniedError):
        patient_timeline(engine, actors["nurse1"], "P2")
    with pytest.raises(NotFoundError):
        patient_timeline(engine, actors["physician1"], "P404")
    assert [p.patient_id for p in visible_patients(engine, actors["physician1"])] == ["P1"]
    assert [p.patient_id for p in visible_patients(engine, actors["admin"])] == ["P1", "P2"]
    assert patient_timeline(engine, actors["admin"], "P2").points["crs_grade"].tolist() == [1]


def test_selected_record_reads_the_customdata_of_a_chart_click() -> None:
    event = {"selection": {"points": [{"x": 1.3, "y": "CRS", "customdata": ["rec-1"]}]}}
    assert selected_record(event) == "rec-1"
    assert selected_record({"selection": {"points": [{"customdata": "rec-2"}]}}) == "rec-2"
    assert selected_record({"selection": {"points": [{"x": 1.0}]}}) is None  # a vitals point
    assert selected_record({"selection": {"points": []}}) is None
    assert selected_record(None) is None


def test_infusion_is_study_day_0(acute: Timeline) -> None:
    assert acute.patient.infusion_at == INFUSION
    assert acute.patient.study_day(INFUSION) == 0
