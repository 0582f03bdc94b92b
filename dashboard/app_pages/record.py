"""Record assessment: a nurse's bedside entry, graded before it is saved.

Thin page: read the widgets, call :mod:`dashboard.services.entry` (context, preview, warnings,
save, drafts), render. The form is the calculator's (:class:`FormLayout`), plus the time of the
assessment, vital signs, labs and drugs given. Values carried from the last assessment are named
so the nurse checks them; everything typed is kept as a server-side draft.
"""

from __future__ import annotations

import streamlit as st

from dashboard.app_pages import corrections
from dashboard.app_pages import entry_inputs as inputs
from dashboard.app_pages.assessment_form import FormLayout
from dashboard.app_pages.common import engine, require
from dashboard.services import entry as svc
from dashboard.services import entry_records as svc_records
from dashboard.store.access import Role
from dashboard.store.errors import AccessDeniedError, NotFoundError, StoreError

PATIENT = "patient"
LOADED = "_entry_loaded_for"  # the patient whose defaults or draft are in the widgets
SAVED = "_entry_saved"  # the confirmation of the last save, shown once


def choose_patient(actor_patients: list[str]) -> str | None:
    wanted = st.query_params.get("patient")
    if wanted and wanted not in actor_patients:
        st.error(f"Patient {wanted} is not a patient of your sites: nothing is shown.")
        st.stop()
    if wanted and st.session_state.get(PATIENT) is None:
        st.session_state[PATIENT] = wanted
    chosen: str | None = st.selectbox(
        "Patient", [None, *actor_patients], key=PATIENT, placeholder="Choose a patient",
        format_func=lambda p: "— choose a patient —" if p is None else p,
    )  # fmt: skip
    return chosen


def load_into_widgets(patient_id: str, context: svc.EntryContext) -> None:
    """Once per patient: the draft if there is one, else the carried defaults."""
    if st.session_state.get(LOADED) == patient_id:
        return
    for key in inputs.FORM_KEYS:
        st.session_state.pop(key, None)
    draft = svc.load_draft(engine(), actor, patient_id)
    values = inputs.from_draft(draft) if draft else svc.defaults(context)
    for key, value in values.items():
        st.session_state[key] = value
    st.session_state[LOADED] = patient_id
    st.session_state["_entry_draft_restored"] = draft is not None
    st.session_state["_entry_last_draft"] = None


def show_saved() -> None:
    saved: svc.Saved | None = st.session_state.pop(SAVED, None)
    if saved is None:
        return
    late = " It was flagged as a late entry." if saved.late_entry else ""
    st.success(
        f"Saved assessment {saved.record_id[:8]} with {saved.labs} lab(s) and {saved.drugs} "
        f"drug(s).{late} The course was re-graded.",
        icon=":material/check_circle:",
    )
    if saved.open_alerts:
        worst = ", ".join(sorted({a.severity for a in saved.open_alerts}))
        st.warning(f"{len(saved.open_alerts)} open alert(s) for this patient ({worst}): the "
                   "physician sees them in the alert inbox.")  # fmt: skip


actor = require(Role.NURSE, Role.PHYSICIAN)
st.markdown("### Record assessment")
show_saved()
try:
    visible = [p.patient_id for p in svc.patients(engine(), actor)]
except StoreError as error:
    st.error(str(error))
    st.stop()
if not visible:
    st.info("No patients at your sites yet.")
    st.stop()
patient_id = choose_patient(visible)
if patient_id is None:
    st.caption("Choose a patient to record an assessment.")
    st.stop()
assert patient_id is not None
try:
    context = svc.load_context(engine(), actor, patient_id)
except (AccessDeniedError, NotFoundError) as error:
    st.error(str(error))
    st.stop()
load_into_widgets(patient_id, context)

patient = context.patient
st.caption(
    f"{patient.patient_id} · {patient.disease.value} · {patient.product.value} · infused "
    f"{patient.infusion_at:%Y-%m-%d %H:%M}"
    + (f" · last assessment {context.last_observed_at:%Y-%m-%d %H:%M}" if context.last_observed_at
       else " · no assessment yet")
)  # fmt: skip
if st.session_state.get("_entry_draft_restored"):
    st.info("Your unsaved draft for this patient was restored.", icon=":material/restore:")

layout = FormLayout()
form_column, result_column = st.columns([3, 2], gap="large")
with form_column:
    observed_at = inputs.read_time()
    vitals = inputs.read_vitals(layout)
    form = layout.read_assessment(masking_from="derived from the drug log (shown with the result)")
    labs, lab_errors = svc_records.labs(patient_id, observed_at, inputs.read_labs())
    drugs, drug_errors = svc_records.drugs(patient_id, observed_at, inputs.read_drugs())

result = svc.preview(form, context, observed_at, drugs)
layout.show_errors(result.view)
typed = inputs.to_draft(form, vitals, observed_at)
if st.session_state.get("_entry_last_draft") is None:
    st.session_state["_entry_last_draft"] = typed  # as loaded: nothing typed yet
elif typed != st.session_state["_entry_last_draft"]:
    try:
        svc.save_draft(engine(), actor, patient_id, typed)
    except StoreError as error:  # what is typed stays on this page; the next change tries again
        st.warning(f"The draft could not be kept on the server: {error}")
    else:
        st.session_state["_entry_last_draft"] = typed

with result_column:
    day = f"study day {result.study_day}" if result.study_day is not None else ""
    st.markdown(f"##### What this entry means · {day}" if day else "##### What this entry means")
    layout.show_result(result.view)
    if result.masking_basis:
        st.caption(f"Fever masking (R-CRS-2): {result.masking_basis}.")
    carried = inputs.carried_unchanged(context, form)
    if carried:
        since = f"{context.last_observed_at:%Y-%m-%d %H:%M}" if context.last_observed_at else ""
        st.warning(f"Carried from the last assessment ({since}), unchanged: "
                   f"{', '.join(carried)}. Check they are still true.")  # fmt: skip
    for problem in [*lab_errors, *drug_errors]:
        st.error(problem)
    unusual = svc.warnings(form, vitals)
    confirmed = True
    if unusual:
        st.warning("Unusual values:\n" + "\n".join(f"- {w}" for w in unusual))
        confirmed = st.checkbox("I have checked these values", key="confirm_unusual")
    blocked = bool(result.view.errors or lab_errors or drug_errors) or not confirmed
    if st.button("Save assessment", type="primary", disabled=blocked, key="save"):
        try:
            saved = svc.save(engine(), actor, patient_id, result.view, observed_at, vitals,
                             labs, drugs)  # fmt: skip
        except StoreError as error:
            st.error(f"Nothing was saved: {error}")
        else:
            st.session_state[SAVED] = saved
            st.session_state.pop(LOADED, None)  # next entry starts from this one's values
            st.rerun()
    if st.button("Discard draft", key="discard"):
        svc.discard_draft(engine(), actor, patient_id)
        st.session_state.pop(LOADED, None)
        st.rerun()

corrections.show(actor, patient_id)
