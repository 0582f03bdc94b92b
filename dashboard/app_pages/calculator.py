"""Grading calculator: one bedside assessment in, CRS and ICANS grades with reasons and flags out.

Thin page: read the widgets, call :func:`dashboard.services.calculator.evaluate`, render. No grading
happens here. Every widget has a stable key (the field name of ``CalculatorInput``); every choice
starts with "— not assessed —", and the result updates as soon as a value is entered.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from dashboard.services import calculator as svc
from grading import Flag, FlagLevel, RuleHit

T = TypeVar("T")

LEVEL_COLOR = {
    FlagLevel.INDICATED: "red",
    FlagLevel.CONSIDER: "orange",
    FlagLevel.LIMIT_REACHED: "violet",
}


def badge(level: FlagLevel, text: str | None = None) -> str:
    return f":{LEVEL_COLOR[level]}-badge[{text or svc.LEVEL_LABELS[level].upper()}]"


#: Under each row of widgets, a full-width slot for their errors (filled after the service ran).
slots: dict[str, DeltaGenerator] = {}
#: The label of each widget, to name the entries at fault beside the result.
labels: dict[str, str] = {}
#: Widgets of the current row, waiting for the row's error slot.
pending: list[str] = []


def choice(label: str, options: Mapping[T, str], key: str, help: str | None = None) -> T | None:
    """A selectbox whose first option is "not assessed" (None): a blank is never read as normal."""
    value: T | None = st.selectbox(
        label,
        [None, *options],
        format_func=lambda v: svc.NOT_ASSESSED if v is None else options[v],
        key=key,
        help=help,
    )
    labels[key] = label
    pending.append(key)
    return value


def number(label: str, key: str, *, step: float | None = None, help: str | None = None) -> Any:
    """A number that starts blank ("not assessed"): an int without ``step``, else a float."""
    value = st.number_input(
        label,
        value=None,
        step=step or 1,
        format="%g" if step else "%d",  # %g shows 37.95 as typed, never rounded to 38.0
        placeholder="not assessed",
        key=key,
        help=help,
    )
    labels[key] = label
    pending.append(key)
    return value


@contextmanager
def row(spec: int | list[int], *group_keys: str) -> Iterator[list[DeltaGenerator]]:
    """Columns for one row of widgets, then one full-width slot for their errors (and the
    errors of ``group_keys``, such as ``ice_items``)."""
    pending.clear()
    yield list(st.columns(spec))
    slot = st.container()
    for key in (*pending, *group_keys):
        slots[key] = slot
    pending.clear()


def read_form() -> dict[str, Any]:
    """The widgets, section by section in bedside order: vitals, oxygen, hypotension, neuro."""
    form: dict[str, Any] = {}
    st.markdown("##### 1 · Fever")
    with row([3, 2, 5]) as (left, unit, right):
        with left:
            form["temperature"] = number(
                "Temperature",
                "temperature",
                step=0.1,
                help="Fever is ≥ 38.0 °C (100.4 °F), compared as recorded. Enter the highest "
                "temperature of this assessment.",
            )
        with unit:
            form["temperature_unit"] = st.radio(
                "Unit",
                ["C", "F"],
                format_func=lambda u: f"°{u}",
                horizontal=True,
                key="temperature_unit",
            )
        with right:
            form["antipyretic_or_anticytokine_given"] = choice(
                "Antipyretic or anti-cytokine given since CRS onset",
                svc.YES_NO_LABELS,
                "antipyretic_or_anticytokine_given",
                help="Tocilizumab, steroids or antipyretics after CRS began: fever is then no "
                "longer required (ASTCT footnote, R-CRS-2).",
            )

    st.markdown("##### 2 · Oxygen")
    with row([3, 2]) as (left, right):
        with left:
            form["oxygen_device"] = choice("Oxygen support", svc.OXYGEN_LABELS, "oxygen_device")
        with right:
            form["oxygen_l_min"] = number(
                "Flow (L/min)",
                "oxygen_l_min",
                step=0.5,
                help="Nasal cannula: ≤ 6 L/min is low-flow (grade 2), > 6 L/min is high-flow "
                "(grade 3), whatever the label.",
            )

    st.markdown("##### 3 · Hypotension")
    with row([1]) as (whole,), whole:
        form["hypotension"] = choice(
            "Hypotension treatment",
            svc.HYPOTENSION_LABELS,
            "hypotension",
            help="Graded by treatment. Vasopressin added to one vasopressor is still one "
            "vasopressor.",
        )

    st.markdown("##### 4 · Neurological (ICANS)")
    with row([3, 2, 5]) as (ice, mode, right):
        with mode:
            form["ice_entry"] = st.radio(
                "ICE entered as",
                ["total", "items"],
                format_func=lambda e: {"total": "Total", "items": "Items"}[e],
                horizontal=True,
                key="ice_entry",
            )
        with ice:
            if form["ice_entry"] == "total":
                form["ice_score"] = number(
                    "ICE score (0-10)", "ice_score", help="10 = no impairment."
                )
            else:
                st.caption("ICE item by item below.")
        with right:
            form["consciousness"] = choice(
                "Level of consciousness",
                svc.CONSCIOUSNESS_LABELS,
                "consciousness",
                help="Not attributable to another cause such as sedating medication.",
            )
    if form["ice_entry"] == "items":
        with row(5, "ice_items") as items:
            for column, (item, label, top) in zip(items, svc.ICE_ITEMS, strict=True):
                with column:
                    form[f"ice_{item}"] = number(f"{label} (0-{top})", f"ice_{item}")
        labels["ice_items"] = "ICE items"
    with row(2) as (left, right):
        with left:
            form["seizure"] = choice("Seizure", svc.SEIZURE_LABELS, "seizure")
        with right:
            form["motor_weakness"] = choice("Motor findings", svc.MOTOR_LABELS, "motor_weakness")
    with row(2) as (left, _), left:
        form["cerebral_edema"] = choice(
            "Raised ICP / cerebral oedema", svc.EDEMA_LABELS, "cerebral_edema"
        )

    age = st.session_state.get("age_years")
    answered = any(st.session_state.get(f"capd_{item}") is not None for item, _ in svc.CAPD_ITEMS)
    with st.expander(
        "Age, and CAPD for children under 12", expanded=answered or (age is not None and age < 12)
    ):
        with row(2) as (left, right):
            with left:
                form["age_years"] = number("Age (years)", "age_years", step=1.0)
            with right:
                form["developmental_delay"] = choice(
                    "Baseline developmental delay", svc.YES_NO_LABELS, "developmental_delay"
                )
        st.caption("CAPD: answer each question as observed (never … always); the model scores it.")
        with row(2, "capd_items") as (left, right):
            for index, (item, label) in enumerate(svc.CAPD_ITEMS):
                with left if index % 2 == 0 else right:
                    form[f"capd_{item}"] = choice(label, svc.CAPD_ANSWERS, f"capd_{item}")
        labels["capd_items"] = "CAPD answers"

    st.markdown("##### 5 · Tocilizumab dose guard and CRS course (optional)")
    with row(3) as (left, middle, right):
        with left:
            form["weight_kg"] = number("Weight (kg)", "weight_kg", step=0.5)
        with middle:
            count = choice(
                "Tocilizumab doses already given",
                {n: str(n) for n in range(svc.MAX_DOSE_ROWS + 1)},
                "tocilizumab_dose_count",
            )
        with right:
            form["crs_grade_1_hours"] = number(
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
            with row(2) as (left, right):
                with left:
                    hours = number(f"Dose {index + 1}: hours ago", f"{key}_hours_ago", step=1.0)
                with right:
                    dose = number(f"Dose {index + 1}: mg", f"{key}_dose_mg", step=10.0)
            doses.append({"hours_ago": hours, "dose_mg": dose})
        form["tocilizumab_doses"] = doses
    return form


def show_hit(hit: RuleHit) -> None:
    st.markdown(f"**Grade {hit.grade} · {hit.domain}** — “{hit.source_text}”")
    st.caption(f"{hit.citation} [{hit.evidence}] · `{hit.rule_id}`: {hit.requirement}")
    if hit.note:
        show_note(hit.note)


def show_note(note: str) -> None:
    if "DISAGREEMENT" in note or "[U]" in note:
        st.warning(note, icon=":material/report:")
    else:
        st.caption(f"Note: {note}")


def show_flag(flag: Flag, view: svc.CalculatorView) -> None:
    with st.container(border=True, key=f"flag-{flag.rule_id}"):
        action = svc.ACTION_LABELS.get(flag.action, flag.action)
        st.markdown(f"{badge(flag.level)} **{action}** — {flag.basis}")
        st.markdown(flag.recommendation)
        st.caption(f"“{flag.source_text}” — {flag.citation} [{flag.evidence}] · `{flag.rule_id}`")
        if flag.on_lower_bound:
            st.caption("Raised on an 'at least' grade: the assessment is incomplete.")
        if flag.note:
            show_note(flag.note)
        guard = view.dose_guard
        if flag.action == "tocilizumab" and guard is not None:
            text = f"**Dose guard:** {guard.message} ({guard.source})"
            if view.dose_guard_warning:
                st.warning(f"{text}  \n{view.dose_guard_warning}", icon=":material/warning:")
            else:
                st.info(text, icon=":material/vaccines:")


def show_result(view: svc.CalculatorView) -> None:
    if view.errors:
        named = ", ".join(labels.get(key, key) for key in view.errors)
        st.error(
            f"Not graded: fix {len(view.errors)} entr{'y' if len(view.errors) == 1 else 'ies'} "
            f"marked in the form ({named}).",
            icon=":material/error:",
        )
        for key, problem in view.errors.items():
            if key not in slots:
                st.error(f"{problem.message} `[{problem.code}]`")
    cards = [card for card in (view.crs, view.icans) if card is not None]
    for column, card in zip(st.columns(2), cards, strict=False):
        with column:
            st.metric(card.toxicity, card.value, help=card.instrument, border=True)
            if card.missing:
                st.caption("Not assessed: " + ", ".join(card.missing))
            else:
                st.caption(card.status.value.replace("_", " "))
    for card in cards:
        for hit in card.deciding:
            st.markdown(f"**{card.title}** — “{hit.source_text}” ({hit.citation}) [{hit.evidence}]")
        if card.hits:
            with st.expander(f"Why {card.title}: all {len(card.hits)} rule rows"):
                st.caption(card.reason)
                for hit in card.hits:
                    show_hit(hit)
    if cards:
        st.markdown(f"##### Flags · {view.policy}")
        if view.flags:
            st.markdown(
                " ".join(
                    badge(
                        flag.level,
                        f"{svc.ACTION_LABELS.get(flag.action, flag.action)}: "
                        f"{svc.LEVEL_LABELS[flag.level]}",
                    )
                    for flag in view.flags
                )
            )
        for flag in view.flags:
            show_flag(flag, view)
        if not view.flags:
            st.caption("No escalation flag at these grades.")
    remarks = [*view.remarks, *(r for card in cards for r in card.remarks)]
    if remarks:
        st.markdown("##### Remarks")
        st.markdown("\n".join(f"- {remark}" for remark in remarks))
    if view.grading_choices:
        st.caption(f"Policy {view.policy}; grading choices: {view.grading_choices}.")
    st.caption(view.disclaimer)


def show_errors(view: svc.CalculatorView) -> None:
    for key, problem in view.errors.items():
        if key in slots:
            slots[key].error(f"{problem.message} `[{problem.code}]`")


def clear_form() -> None:
    """Start a new assessment: every entry back to "not assessed"."""
    for key in list(st.session_state):
        del st.session_state[key]


def main() -> None:
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
    form_column, result_column = st.columns([3, 2], gap="large")
    with form_column:
        form = read_form()
    view = svc.evaluate(form)
    show_errors(view)
    with result_column:
        show_result(view)


main()
