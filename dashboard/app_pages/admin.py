"""Administration: users, roles and sites; the active escalation and monitoring policy with sources.

Thin page: read the forms, call :mod:`dashboard.services.admin`, render. Actions run in button
callbacks (so the lists drawn afterwards are refreshed) and a form is cleared only when its action
succeeded. The policy tab is drawn from the policy models, never from copied values.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.app_pages.common import engine, require
from dashboard.services import admin as svc
from dashboard.store.access import Actor, Role

NOTICE = "admin_notice"
LEVEL_COLOR = {"indicated": "red", "consider": "orange"}


def remember(result: svc.Result, *clear: tuple[str, object]) -> None:
    st.session_state[NOTICE] = (result.ok, result.message)
    if result.ok:
        for key, empty in clear:
            st.session_state[key] = empty


def on_add_user(actor: Actor) -> None:
    get = st.session_state.get
    result = svc.add_user(engine(), actor, get("new_username", ""), get("new_role"),
                          get("new_password", ""), list(get("new_sites", [])))  # fmt: skip
    remember(result, ("new_username", ""), ("new_password", ""), ("new_role", None),
             ("new_sites", []))  # fmt: skip


def on_deactivate(actor: Actor) -> None:
    get = st.session_state.get
    result = svc.deactivate_user(engine(), actor, get("deactivate_user") or "",
                                 get("deactivate_reason", ""))  # fmt: skip
    remember(result, ("deactivate_user", None), ("deactivate_reason", ""))


def on_add_site(actor: Actor) -> None:
    get = st.session_state.get
    result = svc.add_site(engine(), actor, get("new_site_id", ""), get("new_site_name", ""))
    remember(result, ("new_site_id", ""), ("new_site_name", ""))


def users_tab(actor: Actor, view: svc.UsersView) -> None:
    table = [{**user.model_dump(), "sites": ", ".join(user.sites) or "—",
              "email": user.email or "—"} for user in view.users]  # fmt: skip
    st.dataframe(pd.DataFrame(table), hide_index=True, key="users_table")
    site_ids = [site_id for site_id, _ in view.sites]
    with st.form("add_user_form", border=True):
        st.markdown("##### Add a user")
        left, right = st.columns(2)
        left.text_input("Username", key="new_username")
        right.selectbox("Role", [r.value for r in Role], index=None, key="new_role")
        left.text_input("Initial password", type="password", key="new_password",
                        help=f"At least {svc.MIN_PASSWORD_LENGTH} characters.")  # fmt: skip
        right.multiselect("Sites", site_ids, key="new_sites",
                          help="Admins see every site; others need at least one.")  # fmt: skip
        st.form_submit_button("Add user", key="add_user", on_click=on_add_user, args=(actor,))
    active = [
        user.username for user in view.users if user.active and user.username != actor.username
    ]
    with st.form("deactivate_form", border=True):
        st.markdown("##### Deactivate a user")
        left, right = st.columns(2)
        left.selectbox("User", active, index=None, key="deactivate_user")
        right.text_input("Reason (required, audited)", key="deactivate_reason")
        st.form_submit_button("Deactivate", key="deactivate", on_click=on_deactivate, args=(actor,))


def sites_tab(actor: Actor, view: svc.UsersView) -> None:
    sites = pd.DataFrame(view.sites, columns=["Site", "Name"])
    st.dataframe(sites, hide_index=True, key="sites_table")
    with st.form("add_site_form", border=True):
        st.markdown("##### Add a site")
        left, right = st.columns(2)
        left.text_input("Site id", key="new_site_id")
        right.text_input("Name", key="new_site_name")
        st.form_submit_button("Add site", key="add_site", on_click=on_add_site, args=(actor,))


def show_rule(rule: svc.PolicyRule) -> None:
    with st.container(border=True, key=f"rule-{rule.rule_id}"):
        color = LEVEL_COLOR.get(rule.level, "gray")
        st.markdown(f":{color}-badge[{rule.level.upper()}] **{rule.action}** when {rule.when} "
                    f"· `{rule.rule_id}`")  # fmt: skip
        st.markdown(rule.recommendation)
        st.caption(f"“{rule.source_text}” — {rule.citation} [{rule.evidence}]")
        if rule.note and rule.flagged:
            st.warning(rule.note, icon=":material/report:")
        elif rule.note:
            st.caption(f"Note: {rule.note}")


def show_section(section: svc.PolicySection) -> None:
    st.markdown(f"##### {section.title}")
    st.caption(section.summary + (f" Source: {section.source}" if section.source else ""))
    if section.table:
        st.dataframe(pd.DataFrame(section.table), hide_index=True)
    for item in section.items:
        tag = f" [{item.evidence}]" if item.evidence else ""
        text = f"**{item.name}** = `{item.value}`{tag}  \n{item.description}"
        if item.flagged:
            st.warning(text, icon=":material/report:")
        else:
            st.markdown(text)


def policy_tab() -> None:
    view = svc.policy_view()
    st.markdown(f"#### Escalation profile: {view.name}")
    st.caption(f"{view.description} Highlighted: unconfirmed [U] values and disagreements between "
               "sources; the trial's medical monitor must confirm them.")  # fmt: skip
    for rule in view.rules:
        show_rule(rule)
    for section in view.sections:
        show_section(section)


def main() -> None:
    actor = require(Role.ADMIN)
    st.markdown("### Administration")
    notice = st.session_state.pop(NOTICE, None)
    if notice:
        (st.success if notice[0] else st.error)(notice[1])
    view = svc.list_users(engine(), actor)
    if view.error:
        st.error(view.error)
        return
    users, sites, policy = st.tabs(["Users", "Sites", "Active policy"])
    with users:
        users_tab(actor, view)
    with sites:
        sites_tab(actor, view)
    with policy:
        policy_tab()


main()
