"""Sign-in: local accounts (argon2), OpenID Connect identity mapped by verified e-mail with the
token's expiry checked, idle timeout; the entrypoint offers each role only its pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update
from streamlit.testing.v1 import AppTest

from dashboard.services.auth import IDLE_TIMEOUT, SignInError, idle, oidc_actor, sign_in
from dashboard.store.access import Role
from dashboard.store.schema import AuditEntry, User

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def link_email(engine: Engine, username: str, email: str) -> None:
    with engine.begin() as connection:
        connection.execute(update(User).where(User.username == username).values(email=email))


def claims(**extra: object) -> dict[str, object]:
    return {"email": "Ward.Nurse@example.org", "email_verified": True,
            "exp": (NOW + timedelta(minutes=5)).timestamp(), **extra}  # fmt: skip


def test_a_demo_account_signs_in_with_its_role_and_sites(sample_engine: Engine) -> None:
    actor = sign_in(sample_engine, "nurse-s01", "nurse-s01-demo")
    assert (actor.username, actor.role, actor.site_ids) == ("nurse-s01", Role.NURSE,
                                                            frozenset({"S01"}))  # fmt: skip


@pytest.mark.parametrize(
    ("username", "password"),
    [("nurse-s01", "wrong"), ("nobody", "x"), ("nurse-s01", ""), ("", "nurse-s01-demo")],
)
def test_wrong_or_blank_credentials_are_refused_and_audited(
    sample_engine: Engine, username: str, password: str
) -> None:
    with pytest.raises(SignInError):
        sign_in(sample_engine, username, password)


def test_a_refused_attempt_leaves_an_audit_entry_without_the_password(
    sample_engine: Engine,
) -> None:
    with pytest.raises(SignInError):
        sign_in(sample_engine, "nurse-s01", "guess-1234")
    with sample_engine.connect() as connection:
        last = connection.execute(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
    assert last is not None
    assert (last.action, last.entity_id) == ("sign_in_refused", "nurse-s01")
    assert "guess-1234" not in str(last.detail)


def test_an_inactive_account_cannot_sign_in(sample_engine: Engine) -> None:
    with sample_engine.begin() as connection:
        connection.execute(update(User).where(User.username == "nurse-s01").values(active=False))
    with pytest.raises(SignInError):
        sign_in(sample_engine, "nurse-s01", "nurse-s01-demo")


def test_oidc_maps_the_verified_email_case_insensitively(sample_engine: Engine) -> None:
    link_email(sample_engine, "physician-s01", "ward.nurse@example.org")
    actor = oidc_actor(sample_engine, claims(), NOW)
    assert (actor.username, actor.role) == ("physician-s01", Role.PHYSICIAN)


@pytest.mark.parametrize(
    ("change", "message"),
    [({"exp": NOW.timestamp()}, "expired"),  # expiry at this very moment: expired
     ({"exp": None}, "no expiry"),
     ({"email_verified": False}, "not verified"),
     ({"email": "stranger@example.org"}, "No active cartwatch account")],
)  # fmt: skip
def test_oidc_refusals(sample_engine: Engine, change: dict[str, object], message: str) -> None:
    link_email(sample_engine, "physician-s01", "ward.nurse@example.org")
    with pytest.raises(SignInError, match=message):
        oidc_actor(sample_engine, claims(**change), NOW)


def test_a_token_one_second_from_expiry_is_accepted(sample_engine: Engine) -> None:
    link_email(sample_engine, "physician-s01", "ward.nurse@example.org")
    assert oidc_actor(sample_engine, claims(exp=NOW.timestamp() + 1), NOW).username == (
        "physician-s01"
    )


def test_idle_timeout_on_both_sides() -> None:
    assert not idle(None, NOW)
    assert not idle(NOW - IDLE_TIMEOUT + timedelta(seconds=1), NOW)
    assert idle(NOW - IDLE_TIMEOUT, NOW)


def menu(at: AppTest) -> list[str]:
    """Page titles st.navigation registered for this run (AppTest keeps them, privately)."""
    return [page["page_name"] for page in at._registered_pages.values()]


def app(engine: Engine, username: str | None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    if username:
        at.session_state["actor"] = sign_in(engine, username, f"{username}-demo")
    return at.run()


@pytest.mark.parametrize(
    ("username", "pages"),
    [("nurse-s01", ["Worklist", "Alert inbox", "Record assessment", "Patient timeline",
                    "Grading calculator"]),
     ("physician-s01", ["Alert inbox", "Record assessment", "Patient timeline",
                        "Grading calculator"]),
     ("researcher", ["Cohort view", "Research exports", "Grading calculator"]),
     ("admin", ["Alert inbox", "Patient timeline", "Cohort view", "Research exports",
                "Administration", "Grading calculator"]),
     (None, ["Sign in"])],
)  # fmt: skip
def test_each_role_is_offered_only_its_pages(
    sample_engine: Engine, username: str | None, pages: list[str]
) -> None:
    assert menu(app(sample_engine, username)) == pages


def test_signing_in_through_the_form_opens_the_home_page(sample_engine: Engine) -> None:
    at = app(sample_engine, None)
    at.text_input(key="username").input("physician-s01")
    at.text_input(key="password").input("physician-s01-demo")
    at.button[0].click().run()
    assert not at.exception
    assert menu(at)[0] == "Alert inbox"
    assert at.session_state["actor"].username == "physician-s01"


def test_a_wrong_password_says_so_and_stays_signed_out(sample_engine: Engine) -> None:
    at = app(sample_engine, None)
    at.text_input(key="username").input("physician-s01")
    at.text_input(key="password").input("nope")
    at.button[0].click().run()
    assert "wrong password" in at.error[0].value
    assert menu(at) == ["Sign in"]


def test_an_idle_session_is_signed_out_with_a_notice(sample_engine: Engine) -> None:
    at = app(sample_engine, "nurse-s01")
    at.session_state["last_seen"] = datetime.now(UTC) - IDLE_TIMEOUT - timedelta(seconds=1)
    at.run()
    assert menu(at) == ["Sign in"]
    assert "signed out after a period without activity" in at.info[-1].value
