"""The admin service on the sample database: users and sites through the store (admins only), and
the policy view read from the models the engine applies."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select, update

from dashboard.services import admin as svc
from dashboard.services.auth import SignInError, sign_in
from dashboard.store.access import Actor, Role
from dashboard.store.schema import AuditEntry, Site, User
from grading.course_policy import CoursePolicy
from grading.cytopenia import CytopeniaPolicy
from grading.policy_asco_2021 import ASCO_2021


@pytest.fixture
def engine(sample_engine: Engine) -> Engine:
    """The shared sample copy (tests/dashboard/conftest.py); pages open it too."""
    return sample_engine


@pytest.fixture
def admin(engine: Engine) -> Actor:
    return sign_in(engine, "admin", "admin-demo")


def test_list_users_shows_role_state_sites_and_email(engine: Engine, admin: Actor) -> None:
    with engine.begin() as connection:
        connection.execute(
            update(User).where(User.username == "physician-s02").values(email="p2@example.org")
        )
    view = svc.list_users(engine, admin)
    assert view.error is None
    by_name = {user.username: user for user in view.users}
    assert len(by_name) == 12  # 5 nurses, 5 physicians, researcher, admin
    assert by_name["physician-s02"] == svc.UserRow(
        username="physician-s02", role="physician", active=True, sites=["S02"],
        email="p2@example.org")  # fmt: skip
    assert by_name["researcher"].sites == ["S01", "S02", "S03", "S04", "S05"]
    assert (by_name["admin"].role, by_name["admin"].sites, by_name["admin"].email) == (
        "admin", [], None)  # fmt: skip
    assert [site for site, _ in view.sites] == ["S01", "S02", "S03", "S04", "S05"]


def test_added_user_can_sign_in_with_the_initial_password(engine: Engine, admin: Actor) -> None:
    result = svc.add_user(engine, admin, " nurse-new ", "nurse", "correct horse", ["S03"])
    assert result.ok, result.message
    assert result.message == "User nurse-new added (nurse; S03)."
    actor = sign_in(engine, "nurse-new", "correct horse")
    assert (actor.username, actor.role, actor.site_ids) == (
        "nurse-new",
        Role.NURSE,
        frozenset({"S03"}),
    )
    again = svc.add_user(engine, admin, "nurse-new", "nurse", "another password", ["S03"])
    assert not again.ok
    assert again.message == "User not added: username 'nurse-new' is taken"


def test_invalid_new_user_is_refused_with_every_problem(engine: Engine, admin: Actor) -> None:
    result = svc.add_user(engine, admin, "has space", None, "short", [])
    assert not result.ok
    assert "a username of letters" in result.message
    assert "a role (nurse, physician, researcher, admin)" in result.message
    assert "at least 10 characters" in result.message
    missing_site = svc.add_user(engine, admin, "doc", "physician", "long enough pw", [])
    assert missing_site.message == "User not added: enter at least one site for a physician."
    unknown = svc.add_user(engine, admin, "doc", "physician", "long enough pw", ["S77"])
    assert unknown.message == "User not added: no site S77"
    with engine.connect() as connection:
        names = set(connection.execute(select(User.username)).scalars())
    assert not names & {"has space", "doc"}


def test_non_admin_is_refused_everything(engine: Engine) -> None:
    physician = sign_in(engine, "physician-s01", "physician-s01-demo")
    listed = svc.list_users(engine, physician)
    assert listed.users == []
    assert listed.error == "Users could not be read: physician-s01 is not an administrator"
    added = svc.add_user(engine, physician, "sneaky", "admin", "long enough pw", [])
    assert added.message == "User not added: physician-s01 is not an administrator"
    site = svc.add_site(engine, physician, "S77", "Sneaky site")
    assert site.message == "Site not added: physician-s01 is not an administrator"
    off = svc.deactivate_user(engine, physician, "nurse-s01", "because")
    assert off.message == "nurse-s01 not deactivated: physician-s01 is not an administrator"
    with engine.connect() as connection:
        assert connection.execute(select(User).where(User.username == "sneaky")).first() is None
        assert connection.execute(select(Site).where(Site.site_id == "S77")).first() is None
    assert sign_in(engine, "nurse-s01", "nurse-s01-demo").username == "nurse-s01"


def test_deactivate_needs_a_reason_and_stops_sign_in(engine: Engine, admin: Actor) -> None:
    blank = svc.deactivate_user(engine, admin, "nurse-s01", "  ")
    assert blank.message == "nurse-s01 not deactivated: give a reason."
    assert sign_in(engine, "nurse-s01", "nurse-s01-demo").username == "nurse-s01"
    assert svc.deactivate_user(engine, admin, "admin", "oops").message == (
        "You cannot deactivate your own account."
    )
    done = svc.deactivate_user(engine, admin, "nurse-s01", "left the trial")
    assert done.ok, done.message
    with pytest.raises(SignInError):
        sign_in(engine, "nurse-s01", "nurse-s01-demo")
    with engine.connect() as connection:
        entry = connection.execute(
            select(AuditEntry).where(AuditEntry.action == "deactivate")
        ).one()
    assert (entry.actor, entry.entity_id, entry.detail) == (
        "admin", "nurse-s01", {"reason": "left the trial"})  # fmt: skip
    unknown = svc.deactivate_user(engine, admin, "nobody", "x")
    assert unknown.message == "nobody not deactivated: no user nobody"


def test_add_site_then_it_is_listed_and_not_added_twice(engine: Engine, admin: Actor) -> None:
    assert svc.add_site(engine, admin, "S06", "Sample site S06").ok
    assert ("S06", "Sample site S06") in svc.list_users(engine, admin).sites
    assert svc.add_site(engine, admin, "S06", "Again").message == (
        "Site not added: S06 exists already."
    )
    assert not svc.add_site(engine, admin, "bad id!", "x").ok


def test_policy_view_holds_the_asco_tocilizumab_rule_with_its_citation() -> None:
    view = svc.policy_view()
    assert view.name == ASCO_2021.name == "ASCO 2021"
    rules = {rule.rule_id: rule for rule in view.rules}
    assert list(rules) == [rule.rule_id for rule in ASCO_2021.escalation]
    toci = rules["TOCI-CRS-2"]
    assert (toci.action, toci.level, toci.when, toci.citation, toci.evidence) == (
        "tocilizumab", "indicated", "CRS ≥ 2", "ASCO 2021 Table 1 (eguideline p.4-5)", "C")  # fmt: skip
    assert toci.source_text.startswith("CRS G2: administer tocilizumab")
    assert not toci.flagged
    steroid = rules["STEROID-ICANS-2"]
    assert steroid.flagged
    assert steroid.note.startswith("DISAGREEMENT: ASCO Table 2")


def test_policy_sections_are_read_from_the_models() -> None:
    sections = {section.title: section for section in svc.policy_view().sections}
    dosing = {item.name: item for item in sections["Tocilizumab dosing (dose guard)"].items}
    assert dosing["max_dose_mg"].value == f"{ASCO_2021.tocilizumab.max_dose_mg:g}" == "800"
    assert dosing["max_dose_mg"].evidence == "C"
    assert dosing["child_mg_per_kg"].flagged  # "[S: secondary summaries; U: label]"
    assert sections["Tocilizumab dosing (dose guard)"].source == ASCO_2021.tocilizumab.source
    cytopenia = sections["Cytopenia (CTCAE, ICAHT, IEC-HS screen)"].items
    assert [item.name for item in cytopenia] == list(CytopeniaPolicy.model_fields)
    anc = next(item for item in cytopenia if item.name == "anc_lln_cells_ul")
    assert (anc.value, anc.flagged) == ("1800 cells/uL", True)
    schedule = sections["Monitoring schedule"]
    assert [row["name"] for row in schedule.table] == [
        phase.name for phase in CoursePolicy().schedule.phases
    ]
    assert schedule.table[0]["vitals_every_hours"] == "4"
    assert sections["Episodes"].items[0].value == "24"
    assert sections["Episodes"].items[0].flagged  # episode resolution is a [U] policy choice
