"""What every page shares: the database engine, the signed-in user, role checks, the banner.

Pages call :func:`require` first: it returns the signed-in :class:`Actor` when their role may see
the page and stops the page with a clear message otherwise (a page reached by URL is checked the
same way as one reached from the menu). Site checks are the store's: every repository call takes
the actor and refuses patients of other sites.
"""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st
from sqlalchemy import Engine

from dashboard.heap import settle
from dashboard.services.auth import idle
from dashboard.store.access import Actor, Role
from dashboard.store.database import open_database
from grading import DISCLAIMER

ACTOR = "actor"
LAST_SEEN = "last_seen"
NOTICE = "sign_in_notice"
#: What a page must not clear when it resets its own form.
SESSION_KEYS = frozenset({ACTOR, LAST_SEEN})


@st.cache_resource(show_spinner=False)
def engine() -> Engine:
    """One engine per app process, migrated to the newest revision at start. First the process's
    start-up objects are kept out of full garbage collections (:mod:`dashboard.heap`); the engine
    is made after that, so it stays collectable if the resource cache is ever cleared."""
    settle()
    return open_database()


def current_actor() -> Actor | None:
    """The signed-in user, or None; an idle session is signed out here (and says so)."""
    actor: Actor | None = st.session_state.get(ACTOR)
    now = datetime.now(UTC)
    if actor is not None and idle(st.session_state.get(LAST_SEEN), now):
        sign_out("You were signed out after a period without activity.")
        return None
    st.session_state[LAST_SEEN] = now
    return actor


def sign_in_as(actor: Actor) -> None:
    st.session_state[ACTOR] = actor
    st.session_state[LAST_SEEN] = datetime.now(UTC)


def sign_out(notice: str | None = None) -> None:
    """Forget everything of the session (drafts are on the server and survive)."""
    for key in list(st.session_state):
        del st.session_state[key]
    if notice:
        st.session_state[NOTICE] = notice


def require(*roles: Role) -> Actor:
    """The signed-in actor if their role may open this page; otherwise stop with a message."""
    actor = current_actor()
    if actor is None:
        st.warning("Sign in to open this page.")
        st.stop()
    assert actor is not None  # st.stop() does not return
    if roles and actor.role not in roles:
        st.error(f"This page is not available to the {actor.role.value} role.")
        st.stop()
    return actor


def disclaimer() -> None:
    st.info(DISCLAIMER, icon=":material/info:")
