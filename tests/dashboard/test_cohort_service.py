"""The cohort view on a small hand-built cohort whose every number is worked out by hand.

Three patients (infusions at 10:00):

- S01-9001, site S01, SLE, CD19 CAR T, infused 2026-03-01: fever 39.0 on day 1 at 08:00 (CRS 1,
  onset), one vasopressor at 12:00 (CRS 3), ICE 6 at 20:00 (ICANS 2, onset), tocilizumab 13:00 and
  dexamethasone 14:00 on day 1; finding-free from day 2 08:00 (three rows over 24 h): both episodes
  resolve then. CRS 1.0 day, ICANS 0.5 day. Last record 2026-03-04 08:00: day 2.92.
- S01-9002, site S01, myositis, CD19 CAR T, infused 2026-03-01: no finding. Last record day 1.92.
- S02-9001, site S02, SLE, MuSK-CAAR-T, infused 2026-05-10: fever on day 2 08:00 and 20:00 (CRS 1),
  finding-free from day 3 08:00: CRS 1.0 day. A row of 40.5 °C with a vasopressor was withdrawn
  (it would make CRS 3) and the 20:00 row was corrected, both with free-text reasons. Last record
  2026-05-14 08:00: day 3.92.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine

from dashboard.figures.cohort import swimmer
from dashboard.services.cohort import (
    CohortFilters,
    CohortView,
    cohort_view,
    options,
    summary_csv,
    table_one,
)
from dashboard.services.deidentify import leaks, pseudonym, pseudonym_key
from dashboard.store.access import SYSTEM, Actor, Role
from dashboard.store.database import open_database
from dashboard.store.errors import AccessDeniedError
from dashboard.store.unit_of_work import UnitOfWork
from grading import Assessment
from grading.records import DrugAdministration, Patient

A, B, C = "S01-9001", "S01-9002", "S02-9001"
MARCH, MAY = datetime(2026, 3, 1, 10), datetime(2026, 5, 10, 10)
WITHDRAW_REASON = "entered for the wrong patient, bed 12 on ward 7"
CORRECT_REASON = "thermometer swapped, re-measured by the charge nurse"
SITE_NAMES = ("Site one hospital", "Site two clinic")
World = tuple[Engine, dict[str, Actor]]


def row(pid: str, at: datetime, temp: float = 37.0, hypo: str = "none", ice: int = 10) -> (
    Assessment
):  # fmt: skip
    return Assessment(
        patient_id=pid, observed_at=at, age_years=40, temperature_c=temp, hypotension=hypo,
        oxygen_device="room_air", ice_score=ice, consciousness="alert", seizure="none",
        motor_weakness="none", cerebral_edema="none",
    )  # fmt: skip


def at(day: int, hour: int, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    path: Path = tmp_path_factory.mktemp("cohort") / "hand.db"
    engine = open_database(f"sqlite+pysqlite:///{path}")
    with UnitOfWork(engine, SYSTEM) as uow:
        uow.people.add_site("S01", SITE_NAMES[0])
        uow.people.add_site("S02", SITE_NAMES[1])
        actors = {
            "nurse1": uow.people.add_user("nurse1", Role.NURSE, "pw-nurse-1", ["S01"]),
            "nurse2": uow.people.add_user("nurse2", Role.NURSE, "pw-nurse-2", ["S02"]),
            "researcher": uow.people.add_user("res", Role.RESEARCHER, "pw-res-1", ["S01", "S02"]),
            "researcher1": uow.people.add_user("res1", Role.RESEARCHER, "pw-res-2", ["S01"]),
            "admin": uow.people.add_user("adm", Role.ADMIN, "pw-admin-1", []),
        }  # fmt: skip
        uow.commit()
    with UnitOfWork(engine, actors["nurse1"]) as uow:
        uow.patients.add(Patient(patient_id=A, site_id="S01", disease="sle",
                                 product="cd19_car_t", infusion_at=MARCH, age_years=40,
                                 sex="female", weight_kg=70))  # fmt: skip
        uow.patients.add(Patient(patient_id=B, site_id="S01", disease="myositis",
                                 product="cd19_car_t", infusion_at=MARCH, age_years=50,
                                 sex="male", weight_kg=80))  # fmt: skip
        for record in (
            row(A, at(1, 12)), row(A, at(2, 8), 39.0), row(A, at(2, 12), 39.2, "one_vasopressor"),
            row(A, at(2, 20), 38.5, "one_vasopressor", ice=6), row(A, at(3, 8)),
            row(A, at(3, 20)), row(A, at(4, 8)), row(B, at(2, 8)), row(B, at(3, 8)),
        ):  # fmt: skip
            uow.assessments.add(record)
        uow.drugs.add(DrugAdministration(patient_id=A, given_at=at(2, 13), drug="tocilizumab",
                                         dose=560, dose_unit="mg", route="iv"))  # fmt: skip
        uow.drugs.add(DrugAdministration(patient_id=A, given_at=at(2, 14), drug="dexamethasone",
                                         dose=10, dose_unit="mg", route="iv"))  # fmt: skip
        uow.commit()
    with UnitOfWork(engine, actors["nurse2"]) as uow:
        uow.patients.add(Patient(patient_id=C, site_id="S02", disease="sle",
                                 product="musk_caar_t", infusion_at=MAY, age_years=30,
                                 sex="female", weight_kg=60))  # fmt: skip
        for record in (row(C, at(12, 8, 5), 38.4), row(C, at(13, 8, 5)), row(C, at(13, 20, 5)),
                       row(C, at(14, 8, 5))):  # fmt: skip
            uow.assessments.add(record)
        wrong = uow.assessments.add(row(C, at(12, 14, 5), 40.5, "one_vasopressor"))
        misread = uow.assessments.add(row(C, at(12, 20, 5), 37.5))
        uow.drugs.add(DrugAdministration(patient_id=C, given_at=at(12, 9, 5), drug="paracetamol",
                                         dose=1000, dose_unit="mg", route="po"))  # fmt: skip
        uow.commit()
    with UnitOfWork(engine, actors["nurse2"]) as uow:
        uow.assessments.withdraw(wrong.record_id, 1, WITHDRAW_REASON)
        uow.assessments.correct(misread.record_id, 1, row(C, at(12, 20, 5), 38.6), CORRECT_REASON)
        uow.commit()
    yield engine, actors
    engine.dispose()


def view_of(world: World, who: str = "researcher", **filters: Any) -> CohortView:
    engine, actors = world
    return cohort_view(engine, actors[who], CohortFilters(**filters))


def by_pseudonym(world: World) -> dict[str, str]:
    engine, _ = world
    with UnitOfWork(engine, SYSTEM) as uow:
        key = pseudonym_key(uow.session, environ={})
    return {pseudonym(pid, key): pid for pid in (A, B, C)}


def test_per_patient_values_match_the_hand_worked_course(world: World) -> None:
    view = view_of(world)
    names = by_pseudonym(world)
    rows = {names[r["pseudonym"]]: r for r in view.summary.to_dict("records")}
    assert set(rows) == {A, B, C}
    picked = ("crs_max_grade", "icans_max_grade", "crs_onset_day", "crs_duration_days",
              "icans_onset_day", "icans_duration_days", "tocilizumab_doses", "steroid_doses",
              "follow_up_days")  # fmt: skip
    assert [rows[A][k] for k in picked] == [3, 2, 1, 1.0, 1, 0.5, 1, 1, 2.92]
    assert pd.isna(rows[B]["crs_onset_day"])
    assert pd.isna(rows[B]["crs_duration_days"])
    assert (rows[B]["crs_max_grade"], rows[B]["icans_max_grade"], rows[B]["follow_up_days"]) == (
        0, 0, 1.92)  # fmt: skip
    # the withdrawn 40.5 °C row with a vasopressor does not count; the correction (38.6) does
    assert [rows[C][k] for k in ("crs_max_grade", "crs_onset_day", "crs_duration_days")] == [
        1, 2, 1.0]  # fmt: skip
    assert (rows[C]["tocilizumab_doses"], rows[C]["steroid"], rows[C]["follow_up_days"]) == (
        0, False, 3.92)  # fmt: skip


def test_incidence_by_maximum_grade_and_product(world: World) -> None:
    table = view_of(world).incidence.set_index(["product", "syndrome"])
    cols = ["patients", "any", "grade_1_2", "grade_3_4", "grade_5"]
    assert table.loc[("cd19_car_t", "CRS"), cols].tolist() == [2, 1, 0, 1, 0]
    assert table.loc[("cd19_car_t", "ICANS"), cols].tolist() == [2, 1, 1, 0, 0]
    assert table.loc[("musk_caar_t", "CRS"), cols].tolist() == [1, 1, 1, 0, 0]
    assert table.loc[("all products", "CRS"), cols].tolist() == [3, 2, 1, 1, 0]
    assert table.loc[("all products", "CRS"), "any_pct"] == pytest.approx(66.7)


def test_timing_and_drug_use(world: World) -> None:
    view = view_of(world)
    crs = view.timing.set_index(["product", "syndrome"]).loc[("all products", "CRS")]
    assert (crs["onset_day_median"], crs["onset_day_q1"], crs["onset_day_q3"]) == (1.5, 1.25, 1.75)
    assert (crs["duration_days_median"], crs["duration_days_n"]) == (1.0, 2)
    drugs = view.drugs.set_index("product")
    assert drugs.loc["cd19_car_t"].tolist() == [2, 1, 1, 1, 1]
    assert drugs.loc["musk_caar_t"].tolist() == [1, 0, 0, 0, 0]


def test_table_one_counts(world: World) -> None:
    table = view_of(world).table1
    n = table[table["characteristic"] == "n"].iloc[0]
    assert (n["Overall"], n["cd19_car_t"], n["musk_caar_t"]) == ("3", "2", "1")
    age = table[table["characteristic"].str.startswith("age_years")].iloc[0]
    assert age["Overall"].startswith("40.0 (10.0)")
    assert age["cd19_car_t"].startswith("45.0 (7.1)")
    female = table[(table["characteristic"].str.startswith("sex")) & (table["level"] == "female")]
    assert female.iloc[0]["Overall"] == "2 (66.7)"


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"site_ids": frozenset({"S02"})}, {C}),
        ({"diseases": frozenset({"myositis"})}, {B}),
        ({"products": frozenset({"cd19_car_t"})}, {A, B}),
        ({"infused_from": date(2026, 5, 1)}, {C}),
        ({"infused_to": date(2026, 3, 1)}, {A, B}),
        ({"infused_from": date(2026, 3, 2), "infused_to": date(2026, 5, 9)}, set()),
    ],
)
def test_filters_narrow_the_cohort(
    world: World, filters: dict[str, object], expected: set[str]
) -> None:
    view = view_of(world, **filters)
    names = by_pseudonym(world)
    assert {names[p] for p in view.summary["pseudonym"]} == expected
    assert view.patients == len(expected)
    everyone = view.incidence.set_index(["product", "syndrome"]).loc[("all products", "CRS")]
    assert everyone["patients"] == len(expected)


def test_an_empty_selection_gives_empty_frames_not_an_error(world: World) -> None:
    view = view_of(world, diseases=frozenset({"pemphigus_vulgaris"}))
    assert view.patients == 0
    assert view.summary.empty
    assert view.swimmer_lanes.empty
    assert view.table1.empty
    assert summary_csv(view).decode().splitlines()[-1].startswith("pseudonym,")


def test_site_access_nurses_refused_researchers_see_their_sites_admin_all(world: World) -> None:
    engine, actors = world
    with pytest.raises(AccessDeniedError):
        cohort_view(engine, actors["nurse1"], CohortFilters())
    with pytest.raises(AccessDeniedError):
        options(engine, actors["nurse1"])
    names = by_pseudonym(world)
    own = view_of(world, "researcher1")
    assert {names[p] for p in own.summary["pseudonym"]} == {A, B}
    with pytest.raises(AccessDeniedError):
        view_of(world, "researcher1", site_ids=frozenset({"S02"}))
    assert options(engine, actors["researcher1"]).site_ids == ("S01",)
    assert view_of(world, "admin").patients == 3


def test_nothing_identifying_in_any_frame_or_the_download(world: World) -> None:
    view = view_of(world)
    instants = [MARCH, MAY, at(2, 8), at(3, 8), at(4, 8), at(12, 8, 5), at(14, 8, 5)]
    texts = [summary_csv(view).decode(), *(f.to_csv() for f in view.frames().values()),
             str(view.manifest)]  # fmt: skip
    for text in texts:
        assert leaks(text, [A, B, C], instants, [WITHDRAW_REASON, CORRECT_REASON]) == []
        assert not any(name in text for name in SITE_NAMES)
        assert "2026" not in text
    # the scan itself finds what it looks for
    assert leaks(f"x {A} 2026-03-01 {CORRECT_REASON}", [A], [MARCH], [CORRECT_REASON]) == [
        A, "2026-03-01", CORRECT_REASON]  # fmt: skip


def test_swimmer_has_one_bar_per_patient_from_day_0_to_last_follow_up(world: World) -> None:
    view = view_of(world)
    names = by_pseudonym(world)
    figure = swimmer(view.swimmer_lanes, view.swimmer_episodes, view.swimmer_markers)
    lanes = figure.data[0]
    lengths = {names[y]: x for y, x in zip(lanes.y, lanes.x, strict=True)}
    assert lengths == {A: 2.92, B: 1.92, C: 3.92}
    assert lanes.base == 0
    crs3 = next(t for t in figure.data if t.name == "CRS grade 3")
    assert [names[y] for y in crs3.y] == [A]
    assert (crs3.base[0], crs3.x[0]) == (0.92, pytest.approx(1.0))
    markers = {t.name: [(names[y], x) for y, x in zip(t.y, t.x, strict=True)]
               for t in figure.data if t.type == "scatter"}  # fmt: skip
    assert markers == {"Tocilizumab": [(A, 1.12)], "Corticosteroid": [(A, 1.17)]}


def test_table_one_grouped_by_disease() -> None:
    patients = pd.DataFrame({
        "age_years": [30.0, 50.0, 40.0, 40.0],
        "sex": ["female", "male", "female", "female"],
        "disease": ["sle", "sle", "myositis", "myositis"],
        "weight_kg": [60.0, 80.0, 70.0, None],
        "product": ["cd19_car_t", "cd19_car_t", "cd19_bcma_car_t", "cd19_car_t"],
    })  # fmt: skip
    table = table_one(patients, by="disease")
    n = table[table["characteristic"] == "n"].iloc[0]
    assert (n["Overall"], n["sle"], n["myositis"]) == ("4", "2", "2")
    age = table[table["characteristic"].str.startswith("age_years")].iloc[0]
    # mean (SD): sle 40 (sqrt(200)=14.1), myositis 40 (0.0), all 40 (sqrt(200/3)=8.2)
    assert (age["Overall"], age["sle"], age["myositis"]) == ("40.0 (8.2)", "40.0 (14.1)",
                                                             "40.0 (0.0)")  # fmt: skip
    weight = table[table["characteristic"].str.startswith("weight_kg")].iloc[0]
    assert weight["Missing"] == "1"
    assert not table["characteristic"].str.startswith("disease").any()
    product = table[table["characteristic"].str.startswith("product")]
    assert product.set_index("level").loc["cd19_car_t", "myositis"] == "1 (50.0)"
    with pytest.raises(ValueError, match="product, disease"):
        table_one(patients, by="site_id")
