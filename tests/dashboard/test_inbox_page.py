"""The inbox page under AppTest on a copy of the sample database: empty, shown, acknowledged, and
read-only for nurses."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from dashboard.services.auth import sign_in
from dashboard.store.access import Actor, Role
from dashboard.store.schema import AlertRow, Patient
from dashboard.store.unit_of_work import UnitOfWork

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "dashboard" / "app_pages" / "inbox.py")


@pytest.fixture
def engine(sample_engine: Engine) -> Engine:
    """The shared sample copy (tests/dashboard/conftest.py); pages open it too."""
    return sample_engine


def page(actor: Actor | None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    if actor is not None:
        at.session_state["actor"] = actor
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    parts: list[str] = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success"):
        parts += [str(element.value) for element in getattr(at, kind)]
    return "\n".join(parts)


def open_s01(engine: Engine) -> list[int]:
    with engine.connect() as connection:
        return list(connection.execute(
            select(AlertRow.alert_id).join(Patient, Patient.patient_id == AlertRow.patient_id)
            .where(Patient.site_id == "S01", AlertRow.state == "open")
        ).scalars())  # fmt: skip


def buttons(at: AppTest) -> list[str]:
    return [str(button.label) for button in at.button]


def test_a_site_without_alerts_shows_the_empty_state(engine: Engine) -> None:
    admin = sign_in(engine, "admin", "admin-demo")
    with UnitOfWork(engine, admin) as uow:
        uow.people.add_site("S99", "Empty site")
        lonely = uow.people.add_user("physician-s99", Role.PHYSICIAN, "x" * 12, ["S99"])
        uow.commit()
    at = page(lonely)
    assert "No alerts: nothing needs your attention." in texts(at)
    assert len(at.dataframe) == 0
    assert "Acknowledge" not in buttons(at)


def test_physician_sees_own_site_alerts_most_severe_first(engine: Engine) -> None:
    at = page(sign_in(engine, "physician-s01", "physician-s01-demo"))
    table = at.dataframe[0].value
    expected = open_s01(engine)
    assert len(table) == len(expected) > 0
    assert set(table["Site"]) == {"S01"}
    assert list(table["Severity"]) == sorted(
        table["Severity"], key=["critical", "warning", "info"].index
    )
    first = at.selectbox(key="inbox_alert").value
    assert first in expected
    with engine.connect() as connection:
        row = connection.execute(select(AlertRow).where(AlertRow.alert_id == first)).one()
    shown = texts(at)
    assert f"`{row.rule_id}`" in shown
    assert row.citation in shown
    assert f"Evidence [{row.evidence}]" in shown
    assert {"Acknowledge", "Resolve"} <= set(buttons(at))


def test_acknowledge_flow_stores_the_note_and_refreshes_the_list(engine: Engine) -> None:
    physician = sign_in(engine, "physician-s01", "physician-s01-demo")
    at = page(physician)
    alert_id = at.selectbox(key="inbox_alert").value
    before = len(at.dataframe[0].value)
    at.button(key="ack_button").click().run()  # blank note first: refused, nothing stored
    assert any("Write a note before acknowledging" in str(e.value) for e in at.error)
    assert len(at.dataframe[0].value) == before
    at.text_area(key="ack_note").input("Seen; repeat counts at 18:00").run()
    at.button(key="ack_button").click().run()
    assert not at.exception, at.exception
    with engine.connect() as connection:
        row = connection.execute(select(AlertRow).where(AlertRow.alert_id == alert_id)).one()
    assert f"Alert {alert_id} ({row.patient_id}, {row.rule_id}) acknowledged by physician-s01." in [
        str(s.value) for s in at.success
    ]
    assert len(at.dataframe[0].value) == before - 1
    assert alert_id not in open_s01(engine)
    assert at.text_area(key="ack_note").value == ""
    assert (row.state, row.acknowledged_by, row.acknowledge_note) == (
        "acknowledged", physician.user_id, "Seen; repeat counts at 18:00")  # fmt: skip


def test_nurse_sees_the_inbox_read_only(engine: Engine) -> None:
    at = page(sign_in(engine, "nurse-s01", "nurse-s01-demo"))
    assert len(at.dataframe[0].value) == len(open_s01(engine))
    assert "Acknowledge" not in buttons(at)
    assert "Resolve" not in buttons(at)
    assert any("Read-only" in str(info.value) for info in at.info)


def test_researcher_and_signed_out_are_refused(engine: Engine) -> None:
    at = page(sign_in(engine, "researcher", "researcher-demo"))
    assert [str(e.value) for e in at.error] == [
        "This page is not available to the researcher role."
    ]
    assert len(at.dataframe) == 0
    assert [str(w.value) for w in page(None).warning] == ["Sign in to open this page."]


def test_in_the_app_the_alert_links_to_the_patient_timeline(engine: Engine) -> None:
    """Run through the entrypoint (the page link needs the app's navigation): the physician's home
    page is the inbox, and the selected alert links to its patient's timeline."""
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=60)
    at.session_state["actor"] = sign_in(engine, "physician-s01", "physician-s01-demo")
    at.run()
    assert not at.exception, at.exception
    alert_id = at.selectbox(key="inbox_alert").value
    with engine.connect() as connection:
        patient = connection.execute(
            select(AlertRow.patient_id).where(AlertRow.alert_id == alert_id)
        ).scalar_one()
    links = [link.proto for link in at.get("page_link")]
    assert [(link.page, link.query_string, link.label) for link in links] == [
        ("timeline", f"patient={patient}", f"Open the timeline of {patient}")
    ]
