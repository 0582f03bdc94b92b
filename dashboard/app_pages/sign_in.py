"""Sign in: local account (username and password) or the configured OpenID Connect provider.

Thin page: read the form, call :mod:`dashboard.services.auth`, remember the actor, rerun.
"""

from __future__ import annotations

import streamlit as st

from dashboard.app_pages.common import NOTICE, engine, sign_in_as
from dashboard.services.auth import SignInError, oidc_actor, sign_in

st.title("cartwatch")
st.caption("CAR T-cell therapy trial monitoring. Sign in with your trial account.")
if notice := st.session_state.pop(NOTICE, None):
    st.info(notice)

with st.form("sign_in", enter_to_submit=True):
    username = st.text_input("Username", key="username", autocomplete="username")
    password = st.text_input("Password", type="password", key="password",
                             autocomplete="current-password")  # fmt: skip
    submitted = st.form_submit_button("Sign in", type="primary")
if submitted:
    try:
        sign_in_as(sign_in(engine(), username, password))
    except SignInError as refused:
        st.error(str(refused))
    else:
        st.rerun()

try:
    oidc_configured = "auth" in st.secrets
except FileNotFoundError:
    oidc_configured = False
if oidc_configured:
    st.divider()
    if not st.user.is_logged_in:
        st.button("Sign in with your organisation", on_click=st.login)
    else:
        try:
            sign_in_as(oidc_actor(engine(), st.user.to_dict()))
        except SignInError as refused:
            st.error(str(refused))
            st.button("Sign out of the identity provider", on_click=st.logout)
        else:
            st.rerun()
