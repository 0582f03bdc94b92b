"""The assessment form and the grade result, shared by the calculator and the record page.

Widgets are keyed by the field names of :class:`dashboard.services.calculator.CalculatorInput`;
every choice starts with "— not assessed —" and every number starts blank: a blank is never read
as normal. :func:`read_assessment` draws sections 1-4 (fever, oxygen, hypotension, neuro) and the
age/CAPD expander and returns the raw values; :func:`show_result` renders the service's view.
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


class FormLayout:
    """One run of a page's form: where each widget's errors go and what each widget is called.

    Made anew on every run of the page (module state would be shared by every session)."""

    def __init__(self) -> None:
        #: Under each row of widgets, a full-width slot for their errors (filled after grading).
        self.slots: dict[str, DeltaGenerator] = {}
        #: The label of each widget, to name the entries at fault beside the result.
        self.labels: dict[str, str] = {}
        #: Widgets of the current row, waiting for the row's error slot.
        self.pending: list[str] = []

    def choice(
        self, label: str, options: Mapping[T, str], key: str, help: str | None = None
    ) -> T | None:
        """A selectbox whose first option is "not assessed" (None): a blank is never read as normal."""
        value: T | None = st.selectbox(
            label,
            [None, *options],
            format_func=lambda v: svc.NOT_ASSESSED if v is None else options[v],
            key=key,
            help=help,
        )
        self.labels[key] = label
        self.pending.append(key)
        return value

    def number(
        self, label: str, key: str, *, step: float | None = None, help: str | None = None
    ) -> Any:
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
        self.labels[key] = label
        self.pending.append(key)
        return value

    @contextmanager
    def row(self, spec: int | list[int], *group_keys: str) -> Iterator[list[DeltaGenerator]]:
        """Columns for one row of widgets, then one full-width slot for their errors (and the
        errors of ``group_keys``, such as ``ice_items``)."""
        self.pending.clear()
        yield list(st.columns(spec))
        slot = st.container()
        for key in (*self.pending, *group_keys):
            self.slots[key] = slot
        self.pending.clear()

    def read_assessment(self, masking_from: str | None = None) -> dict[str, Any]:
        """The widgets, section by section in bedside order: vitals, oxygen, hypotension, neuro.

        ``masking_from``: where the page derives "antipyretic or anti-cytokine given since CRS
        onset" (the drug log); shown instead of asking. None: the question is asked.
        """
        form: dict[str, Any] = {}
        st.markdown("##### 1 · Fever")
        with self.row([3, 2, 5]) as (left, unit, right):
            with left:
                form["temperature"] = self.number(
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
            if masking_from is not None:
                right.caption(f"Antipyretic or anti-cytokine since CRS onset: {masking_from}")
            else:
                with right:
                    form["antipyretic_or_anticytokine_given"] = self.choice(
                        "Antipyretic or anti-cytokine given since CRS onset",
                        svc.YES_NO_LABELS,
                        "antipyretic_or_anticytokine_given",
                        help="Tocilizumab, steroids or antipyretics after CRS began: fever is then "
                        "no longer required (ASTCT footnote, R-CRS-2).",
                    )

        st.markdown("##### 2 · Oxygen")
        with self.row([3, 2]) as (left, right):
            with left:
                form["oxygen_device"] = self.choice(
                    "Oxygen support", svc.OXYGEN_LABELS, "oxygen_device"
                )
            with right:
                form["oxygen_l_min"] = self.number(
                    "Flow (L/min)",
                    "oxygen_l_min",
                    step=0.5,
                    help="Nasal cannula: ≤ 6 L/min is low-flow (grade 2), > 6 L/min is high-flow "
                    "(grade 3), whatever the label.",
                )

        st.markdown("##### 3 · Hypotension")
        with self.row([1]) as (whole,), whole:
            form["hypotension"] = self.choice(
                "Hypotension treatment",
                svc.HYPOTENSION_LABELS,
                "hypotension",
                help="Graded by treatment. Vasopressin added to one vasopressor is still one "
                "vasopressor.",
            )

        st.markdown("##### 4 · Neurological (ICANS)")
        with self.row([3, 2, 5]) as (ice, mode, right):
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
                    form["ice_score"] = self.number(
                        "ICE score (0-10)", "ice_score", help="10 = no impairment."
                    )
                else:
                    st.caption("ICE item by item below.")
            with right:
                form["consciousness"] = self.choice(
                    "Level of consciousness",
                    svc.CONSCIOUSNESS_LABELS,
                    "consciousness",
                    help="Not attributable to another cause such as sedating medication.",
                )
        if form["ice_entry"] == "items":
            with self.row(5, "ice_items") as items:
                for column, (item, label, top) in zip(items, svc.ICE_ITEMS, strict=True):
                    with column:
                        form[f"ice_{item}"] = self.number(f"{label} (0-{top})", f"ice_{item}")
            self.labels["ice_items"] = "ICE items"
        with self.row(2) as (left, right):
            with left:
                form["seizure"] = self.choice("Seizure", svc.SEIZURE_LABELS, "seizure")
            with right:
                form["motor_weakness"] = self.choice(
                    "Motor findings", svc.MOTOR_LABELS, "motor_weakness"
                )
        with self.row(2) as (left, _), left:
            form["cerebral_edema"] = self.choice(
                "Raised ICP / cerebral oedema", svc.EDEMA_LABELS, "cerebral_edema"
            )

        age = st.session_state.get("age_years")
        answered = any(
            st.session_state.get(f"capd_{item}") is not None for item, _ in svc.CAPD_ITEMS
        )
        with st.expander(
            "Age, and CAPD for children under 12",
            expanded=answered or (age is not None and age < 12),
        ):
            with self.row(2) as (left, right):
                with left:
                    form["age_years"] = self.number("Age (years)", "age_years", step=1.0)
                with right:
                    form["developmental_delay"] = self.choice(
                        "Baseline developmental delay", svc.YES_NO_LABELS, "developmental_delay"
                    )
            st.caption(
                "CAPD: answer each question as observed (never … always); the model scores it."
            )
            with self.row(2, "capd_items") as (left, right):
                for index, (item, label) in enumerate(svc.CAPD_ITEMS):
                    with left if index % 2 == 0 else right:
                        form[f"capd_{item}"] = self.choice(label, svc.CAPD_ANSWERS, f"capd_{item}")
            self.labels["capd_items"] = "CAPD answers"

        return form

    def show_result(self, view: svc.CalculatorView) -> None:
        if view.errors:
            named = ", ".join(self.labels.get(key, key) for key in view.errors)
            st.error(
                f"Not graded: fix {len(view.errors)} entr{'y' if len(view.errors) == 1 else 'ies'} "
                f"marked in the form ({named}).",
                icon=":material/error:",
            )
            for key, problem in view.errors.items():
                if key not in self.slots:
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
                st.markdown(
                    f"**{card.title}** — “{hit.source_text}” ({hit.citation}) [{hit.evidence}]"
                )
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

    def show_errors(self, view: svc.CalculatorView) -> None:
        for key, problem in view.errors.items():
            if key in self.slots:
                self.slots[key].error(f"{problem.message} `[{problem.code}]`")
