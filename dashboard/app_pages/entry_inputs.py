"""Widgets of the record page beyond the shared assessment form: time, vitals, labs, drugs, and
the draft (what is typed, as JSON) in and out of the widgets."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

import streamlit as st

from dashboard.app_pages.assessment_form import FormLayout
from dashboard.services import calculator as calc
from dashboard.services import entry as svc
from dashboard.services import entry_records as records
from grading.records import Analyte, Route

VITAL_LABELS = {
    "heart_rate_bpm": "Heart rate (/min)", "systolic_bp_mmhg": "Systolic BP (mmHg)",
    "diastolic_bp_mmhg": "Diastolic BP (mmHg)", "spo2_pct": "SpO2 (%)",
    "respiratory_rate_min": "Respiratory rate (/min)",
}  # fmt: skip
ASSESSMENT_KEYS = (
    *(name for name in calc.CalculatorInput.model_fields if name != "tocilizumab_doses"),
)
LAB_KEYS = tuple(f"lab_{a.value}" for a in records.BEDSIDE_LABS)
LAB_UNIT_KEYS = tuple(f"lab_{a.value}_unit" for a in records.BEDSIDE_LABS)
DRUG_KEYS = tuple(
    f"drug_{i}_{part}" for i in range(records.DRUG_ROWS)
    for part in ("drug", "dose", "dose_unit", "route", "minutes_before")
)  # fmt: skip
TIME_KEYS = ("observed_date", "observed_time")
#: Every widget of the entry: cleared when another patient is chosen.
FORM_KEYS = (*ASSESSMENT_KEYS, *VITAL_LABELS, *LAB_KEYS, *LAB_UNIT_KEYS, *DRUG_KEYS, *TIME_KEYS,
             "confirm_unusual")  # fmt: skip


def read_time() -> datetime:
    now = datetime.now().replace(second=0, microsecond=0)
    left, right = st.columns(2)
    day: date = left.date_input("Date of assessment", value=now.date(), key="observed_date")
    at: time = right.time_input("Time", value=now.time(), key="observed_time", step=300)
    return datetime.combine(day, at)


def read_vitals(layout: FormLayout) -> dict[str, float | None]:
    st.markdown("##### Vital signs")
    values: dict[str, float | None] = {}
    for column, (key, label) in zip(st.columns(5), VITAL_LABELS.items(), strict=True):
        with column:
            values[key] = layout.number(label, key)
    return values


def read_labs() -> dict[Analyte, tuple[float | None, str]]:
    rows: dict[Analyte, tuple[float | None, str]] = {}
    with st.expander("Labs drawn with this assessment (optional)"):
        for analyte in records.BEDSIDE_LABS:
            left, right = st.columns([3, 2])
            value = left.number_input(records.LAB_LABELS[analyte], value=None, min_value=0.0,
                                      format="%g", key=f"lab_{analyte.value}",
                                      placeholder="not measured")  # fmt: skip
            unit = right.selectbox("Unit", records.units_for(analyte),
                                   key=f"lab_{analyte.value}_unit")  # fmt: skip
            rows[analyte] = (value, unit)
    return rows


def read_drugs() -> list[dict[str, Any]]:
    rows = []
    with st.expander("Drugs given (tocilizumab, steroids, antipyretics, vasopressors, IVIG)"):
        for i in range(records.DRUG_ROWS):
            cells = st.columns([3, 2, 2, 2, 2])
            rows.append({
                "drug": cells[0].selectbox(f"Drug {i + 1}", [None, *records.DRUG_CHOICES],
                                           key=f"drug_{i}_drug", placeholder="none"),
                "dose": cells[1].number_input("Dose", value=None, min_value=0.0, format="%g",
                                              key=f"drug_{i}_dose"),
                "dose_unit": cells[2].selectbox("Unit", [None, "mg", "mg/kg", "g", "g/kg",
                                                         "mcg/kg/min"], key=f"drug_{i}_dose_unit"),
                "route": cells[3].selectbox("Route", [None, *(r.value for r in Route)],
                                            key=f"drug_{i}_route"),
                "minutes_before": cells[4].number_input("Minutes before", value=0, min_value=0,
                                                        key=f"drug_{i}_minutes_before"),
            })  # fmt: skip
    return rows


def to_draft(form: dict[str, Any], vitals: dict[str, float | None], at: datetime) -> dict[str, Any]:
    """What is typed, JSON-ready: every widget value of the entry by key."""
    values = {k: st.session_state.get(k) for k in FORM_KEYS if k not in TIME_KEYS}
    values["observed_at"] = at.isoformat()
    return {k: getattr(v, "value", v) for k, v in values.items() if v is not None}


def from_draft(draft: dict[str, Any]) -> dict[str, Any]:
    """Widget values from a draft (times come back as ISO text)."""
    values = {k: v for k, v in draft.items() if k in FORM_KEYS}
    if at := draft.get("observed_at"):
        moment = datetime.fromisoformat(at)
        values["observed_date"], values["observed_time"] = moment.date(), moment.time()
    return values


def carried_unchanged(context: svc.EntryContext, form: dict[str, Any]) -> list[str]:
    """The carried-forward fields the nurse has not changed (named for a check)."""
    return [
        calc.FIELD_LABELS.get(key, key)
        for key, value in context.last.items()
        if getattr(form.get(key), "value", form.get(key)) == getattr(value, "value", value)
    ]
