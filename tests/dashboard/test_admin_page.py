"""The admin page under AppTest on a copy of the sample database: refused to non-admins, users and
sites managed through the forms, the active policy shown with its sources."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from dashboard.services.auth import SignInError, sign_in
from dashboard.store.access import Actor, Role
from dashboard.store.schema import Site
from grading.policy_asco_2021 import ASCO_2021

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "dashboard" / "app_pages" / "admin.py")


@pytest.fixture
def engine(sample_engine: Engine) -> Engine:
    """The shared sample copy (tests/dashboard/conftest.py); pages open it too."""
    return sample_engine


def page(actor: Actor) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["actor"] = actor
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    parts: list[str] = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success"):
        parts += [str(element.value) for element in getattr(at, kind)]
    return "\n".join(parts)


def table(at: AppTest, column: str) -> pd.DataFrame:
    """The one table of the page that has this column."""
    [found] = [frame.value for frame in at.dataframe if column in frame.value.columns]
    assert isinstance(found, pd.DataFrame)
    return found


@pytest.mark.parametrize("username", ["physician-s01", "nurse-s01", "researcher"])
def test_non_admins_are_refused(engine: Engine, username: str) -> None:
    actor = sign_in(engine, username, f"{username}-demo")
    at = page(actor)
    assert [str(e.value) for e in at.error] == [
        f"This page is not available to the {actor.role.value} role."
    ]
    assert len(at.dataframe) == 0
    assert "TOCI-CRS-2" not in texts(at)


def test_admin_sees_users_sites_and_the_active_policy(engine: Engine) -> None:
    at = page(sign_in(engine, "admin", "admin-demo"))
    users = table(at, "username")
    assert len(users) == 12
    physician = users[users["username"] == "physician-s01"].iloc[0]
    assert (physician["role"], physician["sites"], bool(physician["active"])) == (
        "physician", "S01", True)  # fmt: skip
    assert list(table(at, "Site")["Site"]) == [
        "S01",
        "S02",
        "S03",
        "S04",
        "S05",
    ]
    shown = texts(at)
    for rule in ASCO_2021.escalation:
        assert f"`{rule.rule_id}`" in shown
        assert f"— {rule.citation} [{rule.evidence}]" in shown
    warnings = [str(w.value) for w in at.warning]
    assert any(w.startswith("DISAGREEMENT: ASCO Table 2") for w in warnings)
    assert any(w.startswith("**child_mg_per_kg** = `12`") for w in warnings)
    assert "**max_dose_mg** = `800` [C]" in shown


def test_add_user_through_the_form_then_they_sign_in(engine: Engine) -> None:
    at = page(sign_in(engine, "admin", "admin-demo"))
    at.text_input(key="new_username").input("physician-new")
    at.selectbox(key="new_role").set_value("physician")
    at.text_input(key="new_password").input("a long password")
    at.multiselect(key="new_sites").set_value(["S02"])
    at.button(key="add_user").click().run()
    assert not at.exception, at.exception
    assert [str(s.value) for s in at.success] == ["User physician-new added (physician; S02)."]
    assert "physician-new" in list(table(at, "username")["username"])
    assert at.text_input(key="new_username").value == ""
    actor = sign_in(engine, "physician-new", "a long password")
    assert (actor.role, actor.site_ids) == (Role.PHYSICIAN, frozenset({"S02"}))


def test_form_errors_are_shown_and_nothing_is_stored(engine: Engine) -> None:
    at = page(sign_in(engine, "admin", "admin-demo"))
    at.text_input(key="new_username").input("nurse-x")
    at.selectbox(key="new_role").set_value("nurse")
    at.text_input(key="new_password").input("short")
    at.button(key="add_user").click().run()
    assert [str(e.value) for e in at.error] == [
        "User not added: enter an initial password of at least 10 characters; at least one "
        "site for a nurse."
    ]
    assert at.text_input(key="new_username").value == "nurse-x"  # kept for correction
    with pytest.raises(SignInError):
        sign_in(engine, "nurse-x", "short")


def test_deactivate_and_add_site_through_the_forms(engine: Engine) -> None:
    at = page(sign_in(engine, "admin", "admin-demo"))
    at.selectbox(key="deactivate_user").set_value("nurse-s02")
    at.text_input(key="deactivate_reason").input("left the trial")
    at.button(key="deactivate").click().run()
    assert [str(s.value) for s in at.success] == ["nurse-s02 deactivated: left the trial"]
    users = table(at, "username")
    assert not bool(users[users["username"] == "nurse-s02"].iloc[0]["active"])
    with pytest.raises(SignInError):
        sign_in(engine, "nurse-s02", "nurse-s02-demo")
    at.text_input(key="new_site_id").input("S06")
    at.text_input(key="new_site_name").input("Sample site S06")
    at.button(key="add_site").click().run()
    assert [str(s.value) for s in at.success] == ["Site S06 (Sample site S06) added."]
    assert "S06" in list(table(at, "Site")["Site"])
    with engine.connect() as connection:
        assert connection.execute(select(Site.name).where(Site.site_id == "S06")).scalar() == (
            "Sample site S06"
        )
