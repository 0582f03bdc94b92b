"""cartwatch dashboard entrypoint (``make run``): page config, banner, sign-in, navigation by role.

Pages live in ``app_pages/`` (not ``pages/``) and are registered here with ``st.navigation``: a user
is offered only the pages of their role, and every page checks the role again
(:func:`dashboard.app_pages.common.require`), so a page reached by URL is refused the same way.
"""

from __future__ import annotations

import streamlit as st

from dashboard.app_pages.common import current_actor, disclaimer, sign_out
from dashboard.store.access import Role

st.set_page_config(page_title="cartwatch", page_icon=":material/monitor_heart:", layout="wide")
disclaimer()

NURSE, PHYSICIAN, RESEARCHER, ADMIN = Role.NURSE, Role.PHYSICIAN, Role.RESEARCHER, Role.ADMIN
#: (file, title, icon, roles); the first page a role may open is its home page.
PAGES: tuple[tuple[str, str, str, frozenset[Role]], ...] = (
    ("worklist.py", "Worklist", "checklist", frozenset({NURSE})),
    ("inbox.py", "Alert inbox", "notifications", frozenset({PHYSICIAN, ADMIN, NURSE})),
    ("record.py", "Record assessment", "edit_note", frozenset({NURSE, PHYSICIAN})),
    ("timeline.py", "Patient timeline", "timeline", frozenset({PHYSICIAN, NURSE, ADMIN})),
    ("cohort.py", "Cohort view", "groups", frozenset({RESEARCHER, ADMIN})),
    ("exports.py", "Research exports", "download", frozenset({RESEARCHER, ADMIN})),
    ("admin.py", "Administration", "admin_panel_settings", frozenset({ADMIN})),
    ("calculator.py", "Grading calculator", "calculate", frozenset(Role)),
)

actor = current_actor()
if actor is None:
    pages = [st.Page("app_pages/sign_in.py", title="Sign in", icon=":material/login:")]
else:
    pages = [
        st.Page(f"app_pages/{file}", title=title, icon=f":material/{icon}:")
        for file, title, icon, roles in PAGES
        if actor.role in roles
    ]
    with st.sidebar:
        sites = ", ".join(sorted(actor.site_ids)) or "all sites"
        st.caption(f"Signed in as **{actor.username}** ({actor.role.value}; {sites})")
        if st.button("Sign out", icon=":material/logout:"):
            sign_out("You signed out.")
            st.rerun()

st.navigation(pages).run()
