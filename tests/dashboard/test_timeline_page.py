"""The timeline page under AppTest, on the hand-built world: empty state, a patient shown, a
patient of another site refused by URL, a selected time point explained, sign-off by role."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest
from test_timeline_world import build_world

from dashboard.store.access import Actor, Role
from dashboard.store.unit_of_work import UnitOfWork

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "dashboard" / "app_pages" / "timeline.py")
World = tuple[dict[str, Actor], dict[str, str]]


Built = tuple[dict[str, Actor], str, dict[str, str]]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The world, its URL and P1's record ids by "<hour>@<position>"."""
    engine, actors, url = build_world(tmp_path_factory.mktemp("page"))
    with UnitOfWork(engine, actors["nurse1"]) as uow:
        ids = {f"{r.values.observed_at.hour}@{i}": r.record_id
               for i, r in enumerate(uow.assessments.current("P1"))}  # fmt: skip
    engine.dispose()
    return actors, url, ids


@pytest.fixture
def world(built: Built, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    actors, url, ids = built
    monkeypatch.setenv("CARTWATCH_DATABASE_URL", url)
    st.cache_resource.clear()
    yield actors, ids
    st.cache_resource.clear()


def page(actor: Actor, patient: str | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["actor"] = actor
    if patient is not None:
        at.query_params["patient"] = patient
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    parts: list[str] = []
    for kind in (
        "markdown",
        "caption",
        "error",
        "warning",
        "info",
        "success",
        "title",
        "subheader",
    ):
        parts += [str(element.value) for element in getattr(at, kind)]
    return "\n".join(parts)


def test_no_visible_patient_is_an_empty_state(world: World) -> None:
    lonely = Actor(user_id=99, username="p-s09", role=Role.PHYSICIAN, site_ids=frozenset({"S09"}))
    at = page(lonely)
    assert [i.value for i in at.info] == ["No patient is enrolled at your sites yet."]
    assert not at.selectbox


def test_a_researcher_cannot_open_the_page(world: World) -> None:
    actors, _ = world
    at = page(actors["researcher"])
    assert [e.value for e in at.error] == ["This page is not available to the researcher role."]


def test_a_patient_is_shown_with_its_chart_and_time_points(world: World) -> None:
    actors, _ = world
    at = page(actors["physician1"])
    assert at.selectbox(key="patient").value == "P1"
    assert at.query_params["patient"] == "P1"
    shown = texts(at)
    assert "Today is study day 2. 4 assessments in this view." in shown
    assert len(at.get("plotly_chart")) == 1
    assert at.selectbox(key="timepoint").value is None
    assert len(at.selectbox(key="timepoint").options) == 4


def test_a_patient_of_another_site_by_url_is_refused_and_not_shown(world: World) -> None:
    actors, _ = world
    at = page(actors["physician1"], patient="P2")
    [error] = at.error
    assert "Patient P2 is not available to you" in error.value
    assert not at.get("plotly_chart")
    assert "P2" not in "".join(str(s.options) for s in at.selectbox)
    at = page(actors["nurse2"], patient="P2")  # the site's own nurse sees it
    assert at.selectbox(key="patient").value == "P2"
    assert not at.error


def test_selecting_a_time_point_shows_why(world: World) -> None:
    actors, ids = world
    at = page(actors["physician1"])
    at.selectbox(key="timepoint").set_value(ids["8@1"]).run()
    assert not at.exception, at.exception
    shown = texts(at)
    assert "**CRS grade 3** — grade 3: the most severe domain" in shown
    assert "`CRS-HYPOTENSION-3` (grade 3 · hypotension)" in shown
    assert "Lee 2019 ASTCT CRS table [C]" in shown
    assert "Flags: tocilizumab=indicated, steroids, icu · policy: ASCO 2021" in shown
    at.selectbox(key="timepoint").set_value(ids["12@2"]).run()
    assert "Not assessed: ice_score" in [w.value for w in at.warning]
    assert any("Fever masked" in i.value for i in at.info)


def test_a_physician_signs_off_a_day_and_a_nurse_cannot(world: World) -> None:
    actors, _ = world
    nurse = page(actors["nurse1"])
    assert "Sign-off is for the site's physicians and administrators." in texts(nurse)
    assert not nurse.button
    at = page(actors["physician1"])
    at.selectbox(key="signoff_day").set_value(1)
    at.text_input(key="signoff_note").set_value("ward round")
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert "Day 1 signed off (2 assessments)." in [s.value for s in at.success]
    assert any(s.value.startswith("Day 1 signed off by physician1 at ") and "ward round" in s.value
               for s in at.success)  # fmt: skip
    assert at.selectbox(key="signoff_day").options == ["-5", "2"]
