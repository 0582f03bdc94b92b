"""Grading calculator: one bedside assessment in, CRS and ICANS grades with reasons and flags out.

Thin page: read the widgets (the shared form of :mod:`dashboard.app_pages.assessment_form`), call
:func:`dashboard.services.calculator.evaluate`, render. No grading happens here. The calculator
stores nothing; the tocilizumab doses already given are entered by hand (section 5).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard.app_pages.assessment_form import FormLayout
from dashboard.app_pages.common import SESSION_KEYS, require
from dashboard.services import calculator as svc


def read_form(layout: FormLayout) -> dict[str, Any]:
    form = layout.read_assessment()
    st.markdown("##### 5 · Tocilizumab dose guard and CRS course (optional)")
    with layout.row(3) as (left, middle, right):
        with left:
            form["weight_kg"] = layout.number("Weight (kg)", "weight_kg", step=0.5)
        with middle:
            count = layout.choice(
                "Tocilizumab doses already given",
                {n: str(n) for n in range(svc.MAX_DOSE_ROWS + 1)},
                "tocilizumab_dose_count",
            )
        with right:
            form["crs_grade_1_hours"] = layout.number(
                "Grade 1 CRS for (hours)",
                "crs_grade_1_hours",
                step=0.5,
                help="How long grade 1 CRS has lasted, from the course: > 72 h prompts 'consider "
                "tocilizumab'.",
            )
    if count is not None:
        doses = []
        for index in range(count):
            key = f"tocilizumab_doses_{index}"
            with layout.row(2) as (left, right):
                with left:
                    hours = layout.number(
                        f"Dose {index + 1}: hours ago", f"{key}_hours_ago", step=1.0
                    )
                with right:
                    dose = layout.number(f"Dose {index + 1}: mg", f"{key}_dose_mg", step=10.0)
            doses.append({"hours_ago": hours, "dose_mg": dose})
        form["tocilizumab_doses"] = doses
    return form


def clear_form() -> None:
    """Start a new assessment: every entry back to "not assessed"."""
    for key in list(st.session_state):
        if key not in SESSION_KEYS:  # the sign-in stays
            del st.session_state[key]


def main() -> None:
    require()
    title, clear = st.columns([5, 1], vertical_alignment="bottom")
    title.markdown("### CRS and ICANS grading calculator")
    clear.button(
        "Clear form",
        key="clear_form",
        on_click=clear_form,
        icon=":material/restart_alt:",
        width="stretch",
    )
    st.caption(
        "One bedside assessment, graded with ASTCT 2019 (Lee et al.); flags from the site "
        "policy. Leave what you did not assess blank: it is never read as normal."
    )
    layout = FormLayout()
    form_column, result_column = st.columns([3, 2], gap="large")
    with form_column:
        form = read_form(layout)
    view = svc.evaluate(form)
    layout.show_errors(view)
    with result_column:
        layout.show_result(view)


main()
