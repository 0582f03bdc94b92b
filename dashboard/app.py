"""cartwatch dashboard entrypoint (``make run``): page config, the decision-support banner, navigation.

Until the full dashboard lands there is one page, the single-assessment grading calculator. Pages live
in ``app_pages/`` (not ``pages/``) and are registered here with ``st.navigation``.
"""

from __future__ import annotations

import streamlit as st

from grading import DISCLAIMER

st.set_page_config(page_title="cartwatch", page_icon=":material/monitor_heart:", layout="wide")

st.info(DISCLAIMER, icon=":material/info:")

page = st.navigation(
    [
        st.Page(
            "app_pages/calculator.py",
            title="Grading calculator",
            icon=":material/calculate:",
            default=True,
        )
    ]
)
page.run()
