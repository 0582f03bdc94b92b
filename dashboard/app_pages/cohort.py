"""Cohort: being built (issue #5)."""

from __future__ import annotations

import streamlit as st

from dashboard.app_pages.common import require
from dashboard.store.access import Role

actor = require(Role.RESEARCHER, Role.ADMIN)
st.title("Cohort")
st.caption("This page is being built.")
