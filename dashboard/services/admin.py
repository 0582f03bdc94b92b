"""Administration without Streamlit: users and sites, and the active policies with their sources.

Users and sites go through :class:`dashboard.store.people.PeopleRepository` inside one
:class:`UnitOfWork` per call; the store refuses anyone who is not an administrator, and every
refusal or invalid entry comes back as a message, never raised.

The policy view is read from the pydantic models the alert engine and the grading library apply
(their values, field descriptions and sources), never copied by hand: the escalation profile
(:data:`dashboard.store.alert_engine.POLICY`), the course policy (episodes, steroid equivalence,
monitoring schedule) and the cytopenia policy.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from dashboard.store.access import Actor, Role
from dashboard.store.errors import StoreError
from dashboard.store.schema import User
from dashboard.store.unit_of_work import UnitOfWork

MIN_PASSWORD_LENGTH = 10
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,79}$")
SITE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
#: An evidence tag inside a description: "[C: ...", "[S]", "; U: label]", "[C for ...; S for ...]".
TAG = re.compile(r"[\[;]\s*([CSU])(?=[\s:\],/])")
#: What makes a setting stand out: unconfirmed, or the sources disagree or are silent.
FLAG_MARKS = ("[U", "U:", "DISAGREEMENT", "disputed", "does not say")


class UserRow(BaseModel):
    username: str
    role: str
    active: bool
    sites: list[str]
    email: str | None


class UsersView(BaseModel):
    users: list[UserRow]
    sites: list[tuple[str, str]]  # (site id, name)
    error: str | None = None


class Result(BaseModel):
    ok: bool
    message: str


def list_users(engine: Engine, actor: Actor) -> UsersView:
    """Every user with role, state, sites and OpenID Connect e-mail; admins only."""
    try:
        with UnitOfWork(engine, actor) as uow:
            users = uow.people.users()  # refuses non-admins
            emails = dict(uow.session.execute(select(User.username, User.email)).all())
            sites = uow.people.sites()
    except StoreError as error:
        return UsersView(users=[], sites=[], error=f"Users could not be read: {error}")
    rows = [
        UserRow(username=str(u["username"]), role=str(u["role"]), active=bool(u["active"]),
                sites=list(_strings(u["sites"])), email=emails.get(str(u["username"])))
        for u in users
    ]  # fmt: skip
    return UsersView(users=rows, sites=sites)


def add_user(
    engine: Engine, actor: Actor, username: str, role: Role | str | None, password: str,
    site_ids: list[str],
) -> Result:  # fmt: skip
    """A new active account; nurses, physicians and researchers need at least one site."""
    username = (username or "").strip()
    problems = []
    if not NAME.match(username):
        problems.append("a username of letters, digits and . _ - @ (up to 80, no spaces)")
    try:
        chosen = Role(role) if role is not None else None
    except ValueError:
        chosen = None
    if chosen is None:
        problems.append(f"a role ({', '.join(r.value for r in Role)})")
    if len(password or "") < MIN_PASSWORD_LENGTH:
        problems.append(f"an initial password of at least {MIN_PASSWORD_LENGTH} characters")
    if chosen is not None and chosen is not Role.ADMIN and not site_ids:
        problems.append(f"at least one site for a {chosen.value}")
    if problems:
        return Result(ok=False, message="User not added: enter " + "; ".join(problems) + ".")
    assert chosen is not None
    try:
        with UnitOfWork(engine, actor) as uow:
            uow.people.add_user(username, chosen, password, sorted(set(site_ids)))
            uow.commit()
    except StoreError as error:
        return Result(ok=False, message=f"User not added: {error}")
    sites = ", ".join(sorted(set(site_ids))) or "no site"
    return Result(ok=True, message=f"User {username} added ({chosen.value}; {sites}).")


def deactivate_user(engine: Engine, actor: Actor, username: str, reason: str) -> Result:
    """Deactivate an account (it can no longer sign in); the reason is required and audited."""
    if not username:
        return Result(ok=False, message="Choose the user to deactivate.")
    if not reason or not reason.strip():
        return Result(ok=False, message=f"{username} not deactivated: give a reason.")
    if username == actor.username:
        return Result(ok=False, message="You cannot deactivate your own account.")
    try:
        with UnitOfWork(engine, actor) as uow:
            uow.people.deactivate(username, reason.strip())
            uow.commit()
    except StoreError as error:
        return Result(ok=False, message=f"{username} not deactivated: {error}")
    return Result(ok=True, message=f"{username} deactivated: {reason.strip()}")


def add_site(engine: Engine, actor: Actor, site_id: str, name: str) -> Result:
    site_id, name = (site_id or "").strip(), (name or "").strip()
    if not SITE_ID.match(site_id) or not name:
        return Result(
            ok=False,
            message="Site not added: enter a site id (letters, digits, _ and -, up to 64) "
            "and a name.",
        )
    try:
        with UnitOfWork(engine, actor) as uow:
            if site_id in {known for known, _ in uow.people.sites()}:
                return Result(ok=False, message=f"Site not added: {site_id} exists already.")
            uow.people.add_site(site_id, name)
            uow.commit()
    except StoreError as error:
        return Result(ok=False, message=f"Site not added: {error}")
    except IntegrityError:
        return Result(ok=False, message=f"Site not added: {site_id} exists already.")
    return Result(ok=True, message=f"Site {site_id} ({name}) added.")


def _strings(value: Any) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list | tuple) else []


# -- the active policy, read from its models ---------------------------------------------------
class PolicyItem(BaseModel):
    """One setting: its value, what it means and where it comes from."""

    name: str
    value: str
    description: str
    evidence: str  # the evidence tags found ("C", "S", "U", "policy"), "" when none is stated
    flagged: bool  # unconfirmed [U] or a DISAGREEMENT between sources: shown highlighted


class PolicyRule(BaseModel):
    rule_id: str
    action: str
    level: str
    when: str
    recommendation: str
    source_text: str
    citation: str
    evidence: str
    note: str
    flagged: bool


class PolicySection(BaseModel):
    title: str
    summary: str
    source: str
    items: list[PolicyItem]
    table: list[dict[str, str]] = []


class PolicyView(BaseModel):
    name: str
    description: str
    rules: list[PolicyRule]
    sections: list[PolicySection]


def policy_view() -> PolicyView:
    """The escalation, grading, course and cytopenia policies the alert engine applies."""
    from dashboard.store.alert_engine import POLICY
    from grading.course_policy import CoursePolicy
    from grading.cytopenia import DEFAULT_POLICY

    course = CoursePolicy()  # the engine's grade_course runs with the default course policy
    rules = [
        PolicyRule(rule_id=r.rule_id, action=r.action, level=r.level, when=r.describe(),
                   recommendation=r.recommendation, source_text=r.source_text,
                   citation=r.citation, evidence=r.evidence, note=r.note,
                   flagged=r.evidence == "U" or _flagged(r.note))
        for r in POLICY.escalation
    ]  # fmt: skip
    schedule = course.schedule
    sections = [
        _section("Grading choices", POLICY.grading),
        _section("Tocilizumab dosing (dose guard)", POLICY.tocilizumab),
        _section("Episodes", course.episodes),
        _section("Corticosteroid equivalence", course.steroids),
        _section("Monitoring schedule", schedule,
                 table=[{k: _text(v) for k, v in p.model_dump(mode="json").items()}
                        for p in schedule.phases]),
        _section("Cytopenia (CTCAE, ICAHT, IEC-HS screen)", DEFAULT_POLICY),
    ]  # fmt: skip
    return PolicyView(name=POLICY.name, description=POLICY.description, rules=rules,
                      sections=sections)  # fmt: skip


def _section(
    title: str, model: BaseModel, table: list[dict[str, str]] | None = None
) -> PolicySection:
    values = model.model_dump(mode="json")
    items = []
    for name, info in type(model).model_fields.items():
        if name == "source" or (table and name == "phases"):
            continue
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        parts = [info.description or "", *(str(extra[k]) for k in ("source", "rationale")
                                             if extra.get(k))]  # fmt: skip
        description = " ".join(part for part in parts if part)
        unit = f" {extra['unit']}" if extra.get("unit") else ""
        tags = sorted(set(TAG.findall(description)))
        if extra.get("evidence"):
            tags = sorted({str(extra["evidence"]), *tags})
        items.append(PolicyItem(name=name, value=_text(values[name]) + unit,
                                description=description, evidence=", ".join(tags),
                                flagged="U" in tags or _flagged(description)))  # fmt: skip
    summary = " ".join((type(model).__doc__ or "").split())
    return PolicySection(title=title, summary=summary, source=str(values.get("source", "")),
                         items=items, table=table or [])  # fmt: skip


def _flagged(text: str) -> bool:
    return any(mark in text for mark in FLAG_MARKS)


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value)
