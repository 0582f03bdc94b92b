"""Structural checks of the rule tables (grading.crs_astct_2019, grading.icans_astct_2019) and of the
package boundary: checks that fail when a row is added, removed or mistyped.

- every row carries its source text, citation and an evidence tag;
- rule ids are unique;
- every coded value of each domain is covered by exactly one row;
- the numeric rows partition their range (temperature, oxygen flow, ICE 0-10, CAPD 0-32) with no gap
  and no overlap, and the bands are those of criteria.md sections 1 and 2;
- the grading package imports no Streamlit, SQLAlchemy or dashboard code.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import typing
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import pytest

import grading
from grading import crs_astct_2019, icans_astct_2019
from grading.assessment import PLAUSIBLE, Assessment
from grading.criteria import Between, Blank, Criterion, Instrument, Is
from grading.enums import (
    CerebralEdema,
    Consciousness,
    DeathAttribution,
    Hypotension,
    MotorWeakness,
    OxygenDevice,
    Seizure,
)
from grading.policy import GradingPolicy

CRS = crs_astct_2019.INSTRUMENT
ICANS = icans_astct_2019.INSTRUMENT
INSTRUMENTS = [pytest.param(CRS, id="crs"), pytest.param(ICANS, id="icans")]
ALL_ROWS = [
    pytest.param(instrument, criterion, id=criterion.rule_id)
    for instrument in (CRS, ICANS)
    for criterion in instrument.criteria
]
NASAL_CANNULA = (OxygenDevice.LOW_FLOW_NASAL_CANNULA, OxygenDevice.HIGH_FLOW_NASAL_CANNULA)
DEFAULT_CHOICES = GradingPolicy().active_choices()
STRICT_CHOICES = GradingPolicy(nasal_cannula_without_flow="not_gradable").active_choices()


def field_type(field: str) -> Any:
    """The type of an Assessment field without its ``| None`` and its validators."""
    (inner,) = [
        a for a in typing.get_args(Assessment.model_fields[field].annotation) if a is not type(None)
    ]
    return typing.get_args(inner)[0] if typing.get_origin(inner) is Annotated else inner


def fired(
    instrument: Instrument,
    domain: str,
    record: dict[str, Any],
    choices: frozenset[str] = DEFAULT_CHOICES,
) -> list[Criterion]:
    return [c for c in instrument.rows(domain, choices) if c.holds(record)]


# --- Every row says where it comes from -----------------------------------------------------------


@pytest.mark.parametrize(("instrument", "criterion"), ALL_ROWS)
def test_every_row_has_source_text_citation_and_evidence(
    instrument: Instrument, criterion: Criterion
) -> None:
    assert criterion.source_text.strip()
    assert criterion.citation.strip()
    assert criterion.evidence in {"C", "S", "U", "policy"}
    assert criterion.when, "a row with no condition would always fire"


@pytest.mark.parametrize(("instrument", "criterion"), ALL_ROWS)
def test_every_row_reads_only_its_domain_fields_with_valid_values(
    instrument: Instrument, criterion: Criterion
) -> None:
    domains = {domain.name: domain for domain in instrument.domains}
    assert criterion.domain in domains
    assert 0 <= criterion.grade <= 5
    for condition in criterion.when:
        assert condition.field in domains[criterion.domain].fields
        assert condition.field in Assessment.model_fields
        kind = field_type(condition.field)
        if isinstance(condition, Is):
            assert condition.values
            if isinstance(kind, type) and issubclass(kind, StrEnum):
                allowed = {member.value for member in kind}
                assert set(condition.values) <= allowed, condition
            else:
                assert kind is bool
                assert all(isinstance(v, bool) for v in condition.values)
        elif isinstance(condition, Between):
            assert kind in (int, float)
            assert condition.low is not None or condition.high is not None
            if condition.low is not None and condition.high is not None:
                assert condition.low <= condition.high
            assert condition.unit


@pytest.mark.parametrize(("instrument", "criterion"), ALL_ROWS)
def test_a_policy_row_names_a_real_policy_choice_and_is_tagged_policy(
    instrument: Instrument, criterion: Criterion
) -> None:
    every_choice = {
        f"{name}={value}"
        for name, info in GradingPolicy.model_fields.items()
        for value in typing.get_args(info.annotation) or (info.default,)
    }
    if criterion.policy:
        assert criterion.policy in every_choice
        assert criterion.evidence == "policy"
    else:
        assert criterion.evidence != "policy"


@pytest.mark.parametrize("instrument", INSTRUMENTS)
def test_rule_ids_are_unique(instrument: Instrument) -> None:
    counts = Counter(c.rule_id for c in instrument.criteria)
    assert [rule_id for rule_id, n in counts.items() if n > 1] == []


def test_rule_ids_are_unique_across_instruments() -> None:
    assert not {c.rule_id for c in CRS.criteria} & {c.rule_id for c in ICANS.criteria}


@pytest.mark.parametrize("instrument", INSTRUMENTS)
def test_every_domain_has_rows(instrument: Instrument) -> None:
    assert {d.name for d in instrument.domains} == {c.domain for c in instrument.criteria}


@pytest.mark.parametrize("instrument", INSTRUMENTS)
def test_the_table_and_its_reference_are_named(instrument: Instrument) -> None:
    assert instrument.name
    assert instrument.version == "2019"
    assert "doi:10.1016/j.bbmt.2018.12.758" in instrument.reference
    assert instrument.reviewed


# --- Every coded value is covered ----------------------------------------------------------------

CODED_DOMAINS = [
    pytest.param(CRS, "hypotension", "hypotension", Hypotension, id="crs-hypotension"),
    pytest.param(CRS, "death", "death_attributed_to", DeathAttribution, id="crs-death"),
    pytest.param(ICANS, "consciousness", "consciousness", Consciousness, id="icans-consciousness"),
    pytest.param(ICANS, "seizure", "seizure", Seizure, id="icans-seizure"),
    pytest.param(ICANS, "motor", "motor_weakness", MotorWeakness, id="icans-motor"),
    pytest.param(ICANS, "edema", "cerebral_edema", CerebralEdema, id="icans-edema"),
    pytest.param(ICANS, "death", "death_attributed_to", DeathAttribution, id="icans-death"),
]


@pytest.mark.parametrize(("instrument", "domain", "field", "enum"), CODED_DOMAINS)
def test_every_coded_value_is_graded_by_exactly_one_row(
    instrument: Instrument, domain: str, field: str, enum: type[StrEnum]
) -> None:
    for member in enum:
        rows = fired(instrument, domain, {field: member.value})
        assert len(rows) == 1, (member, [c.rule_id for c in rows])


@pytest.mark.parametrize(("instrument", "domain", "field", "enum"), CODED_DOMAINS)
def test_a_blank_coded_field_fires_no_row(
    instrument: Instrument, domain: str, field: str, enum: type[StrEnum]
) -> None:
    assert fired(instrument, domain, {field: None}) == []


def test_every_oxygen_device_appears_in_a_hypoxia_row() -> None:
    named = {
        value
        for c in CRS.criteria
        if c.domain == "hypoxia"
        for condition in c.when
        if isinstance(condition, Is)
        for value in condition.values
    }
    assert named == {device.value for device in OxygenDevice}


@pytest.mark.parametrize("device", [d for d in OxygenDevice if d not in NASAL_CANNULA])
@pytest.mark.parametrize("flow", [None, 0.0, 6.0, 15.0])
def test_a_device_other_than_a_cannula_is_graded_by_one_row_whatever_the_flow(
    device: OxygenDevice, flow: float | None
) -> None:
    for choices in (DEFAULT_CHOICES, STRICT_CHOICES):
        rows = fired(CRS, "hypoxia", {"oxygen_device": device.value, "oxygen_l_min": flow}, choices)
        assert len(rows) == 1, (device, flow, [c.rule_id for c in rows])


@pytest.mark.parametrize("device", NASAL_CANNULA)
def test_a_cannula_without_flow_is_graded_by_its_label_only_under_that_policy(
    device: OxygenDevice,
) -> None:
    record = {"oxygen_device": device.value, "oxygen_l_min": None}
    (row,) = fired(CRS, "hypoxia", record, DEFAULT_CHOICES)
    assert row.grade == (2 if device is OxygenDevice.LOW_FLOW_NASAL_CANNULA else 3)
    assert row.evidence == "policy"
    assert fired(CRS, "hypoxia", record, STRICT_CHOICES) == []


def test_masking_covers_both_answers() -> None:
    for given, grade in ((True, 1), (False, 0)):
        (row,) = fired(CRS, "masking", {"antipyretic_or_anticytokine_given": given})
        assert row.grade == grade


# --- Numeric rows partition their range ----------------------------------------------------------


def grid(low: float, high: float, cut_points: list[float]) -> list[float]:
    """A fine grid over [low, high] plus each cut-point and its nearest neighbours."""
    steps = round((high - low) * 100)
    points = {low + i * (high - low) / steps for i in range(steps + 1)}
    for cut in cut_points:
        points |= {cut, cut - 1e-9, cut + 1e-9}
    return sorted(p for p in points if low <= p <= high)


def test_the_fever_rows_partition_the_plausible_temperatures_at_38_0() -> None:
    low, high, _ = PLAUSIBLE["temperature_c"]
    for temperature in grid(low, high, [37.9, 37.95, 38.0]):
        (row,) = fired(CRS, "fever", {"temperature_c": temperature})
        assert row.grade == (1 if temperature >= 38.0 else 0), temperature
    assert fired(CRS, "fever", {"temperature_c": None}) == []


@pytest.mark.parametrize("device", NASAL_CANNULA)
def test_the_cannula_rows_partition_the_plausible_flows_at_6_l_min(device: OxygenDevice) -> None:
    low, high, _ = PLAUSIBLE["oxygen_l_min"]
    for choices in (DEFAULT_CHOICES, STRICT_CHOICES):
        for flow in grid(low, high, [6.0, 6.1]):
            if flow == 0:
                continue  # a cannula at 0 L/min is refused at input (no oxygen delivered)
            record = {"oxygen_device": device.value, "oxygen_l_min": flow}
            (row,) = fired(CRS, "hypoxia", record, choices)
            # <= 6 L/min is low-flow (grade 2), > 6 L/min high-flow (grade 3), whatever the label.
            assert row.grade == (2 if flow <= 6.0 else 3), (device, flow)


def score_rows(domain: str, field: str) -> list[Criterion]:
    """The rows of a score domain that read the score itself (not 'unable to perform')."""
    return [
        c
        for c in ICANS.criteria
        if c.domain == domain and any(cond.field == field for cond in c.when)
    ]


def covered_points(rows: list[Criterion], field: str, low: int, high: int) -> dict[int, list[str]]:
    return {
        score: [c.rule_id for c in rows if c.holds({field: score})]
        for score in range(low - 5, high + 6)
    }


def test_the_ice_rows_partition_0_to_10_into_the_astct_bands() -> None:
    rows = score_rows("ice", "ice_score")
    covered = covered_points(rows, "ice_score", 0, 10)
    for score, ids in covered.items():
        assert len(ids) == (1 if 0 <= score <= 10 else 0), (score, ids)
    expected = {
        10: 0,
        **dict.fromkeys(range(7, 10), 1),
        **dict.fromkeys(range(3, 7), 2),
        **dict.fromkeys(range(0, 3), 3),
    }
    for score, grade in expected.items():
        (row,) = [c for c in rows if c.holds({"ice_score": score})]
        assert row.grade == grade, score


def test_the_capd_rows_partition_0_to_32_with_the_cut_point_at_9() -> None:
    rows = score_rows("capd", "capd_score")
    covered = covered_points(rows, "capd_score", 0, 32)
    for score, ids in covered.items():
        assert len(ids) == (1 if 0 <= score <= 32 else 0), (score, ids)
    for score in range(0, 33):
        (row,) = [c for c in rows if c.holds({"capd_score": score})]
        assert row.grade == (0 if score == 0 else 1 if score <= 8 else 3), score


def test_the_score_ranges_match_the_input_model() -> None:
    assert PLAUSIBLE["ice_score"][:2] == (0, 10)
    assert PLAUSIBLE["capd_score"][:2] == (0, 32)


@pytest.mark.parametrize(("domain", "score"), [("ice", "ice_score"), ("capd", "capd_score")])
def test_unable_to_perform_the_score_because_unarousable_is_grade_4(
    domain: str, score: str
) -> None:
    record = {score: None, "consciousness": Consciousness.UNAROUSABLE.value}
    (row,) = fired(ICANS, domain, record)
    assert row.grade == 4
    assert fired(ICANS, domain, {score: None, "consciousness": "alert"}) == []


def test_a_row_that_fires_on_a_blank_is_a_named_policy_choice() -> None:
    for instrument in (CRS, ICANS):
        for c in instrument.criteria:
            for condition in c.when:
                if isinstance(condition, Blank):
                    assert c.policy, "a row firing on a blank must be a named policy choice"


# --- The grading package stays a pure library -----------------------------------------------------

FORBIDDEN = {"streamlit", "sqlalchemy", "alembic", "dashboard", "plotly"}
PACKAGE = Path(grading.__file__).parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", ""))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            modules.add(str(node.args[0].value))
    return modules


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_the_grading_package_has_sources_to_check() -> None:
    assert {"crs.py", "icans.py", "frame.py", "criteria.py"} <= {p.name for p in SOURCES}


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(PACKAGE)) for p in SOURCES])
def test_grading_imports_no_streamlit_sqlalchemy_or_dashboard(path: Path) -> None:
    roots = {module.split(".")[0] for module in imported_modules(path)}
    assert roots & FORBIDDEN == set()


def test_importing_grading_loads_no_streamlit_sqlalchemy_or_dashboard() -> None:
    """The import graph, transitively: nothing grading pulls in loads the application side."""
    code = (
        "import sys, grading, grading.frame, grading.grade\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {FORBIDDEN!r}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
