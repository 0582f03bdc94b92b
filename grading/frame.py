"""Grade a DataFrame of assessments in one vectorised pass (no Python loop over rows).

It evaluates the same rule tables as :mod:`grading.crs` and :mod:`grading.icans` with NumPy masks and
combines the domains with the same logic; reasons are formatted by the shared
:func:`grading.results.describe`, once per distinct combination of rows that fired. A property test
(tests/grading/test_frame_properties.py) holds the scalar and vectorised results together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from grading import crs_astct_2019 as crs_table
from grading import icans_astct_2019 as icans_table
from grading.assessment import PLAUSIBLE
from grading.criteria import Instrument, Is, evaluate_domain_frame
from grading.crs import FIELDS as CRS_FIELDS
from grading.enums import (
    CerebralEdema,
    Consciousness,
    DeathAttribution,
    Hypotension,
    MotorWeakness,
    OxygenDevice,
    Seizure,
    Status,
)
from grading.escalation import DEATH_GRADE
from grading.icans import OTHER_DOMAINS
from grading.policy import Policy
from grading.policy_asco_2021 import ASCO_2021
from grading.results import Case, describe

IntArray = NDArray[np.int64]

#: Input columns of the interchange contract (README, "Data dictionary").
INPUT_COLUMNS = (
    "patient_id",
    "observed_at",
    "age_years",
    "temperature_c",
    "antipyretic_or_anticytokine_given",
    "hypotension",
    "oxygen_device",
    "oxygen_l_min",
    "ice_score",
    "capd_score",
    "consciousness",
    "seizure",
    "motor_weakness",
    "cerebral_edema",
)
#: Optional columns cartwatch also reads (documented extensions of the contract).
EXTRA_COLUMNS = (
    "developmental_delay",
    "death_attributed_to",
    "heart_rate_bpm",
    "systolic_bp_mmhg",
    "diastolic_bp_mmhg",
    "spo2_pct",
    "respiratory_rate_min",
)
OUTPUT_COLUMNS = (
    "crs_grade",
    "icans_grade",
    "crs_status",
    "icans_status",
    "crs_reason",
    "icans_reason",
    "tocilizumab_indicated",
    "steroids_indicated",
    "icu_indicated",
    "missing",
)
CODED = {
    "hypotension": Hypotension,
    "oxygen_device": OxygenDevice,
    "consciousness": Consciousness,
    "seizure": Seizure,
    "motor_weakness": MotorWeakness,
    "cerebral_edema": CerebralEdema,
    "death_attributed_to": DeathAttribution,
}
BOOLEANS = ("antipyretic_or_anticytokine_given", "developmental_delay")
ICANS_MISSING_FIELDS = ("ice_score", "capd_score", *(field for _, field in OTHER_DOMAINS))
MISSING_FIELDS = tuple(dict.fromkeys((*CRS_FIELDS, *ICANS_MISSING_FIELDS)))
STATUSES = (Status.GRADED, Status.NO_TOXICITY, Status.NOT_GRADABLE)
CASES = tuple(Case)
ICE, CAPD, EITHER = 0, 1, 2


class FrameValidationError(ValueError):
    """Raised by :func:`grade_frame` when a coded value or a number is not allowed."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        shown = "\n".join(self.problems[:20])
        more = f"\n... and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
        super().__init__(f"{len(self.problems)} problem(s) in the assessments:\n{shown}{more}")


def validate_frame(frame: pd.DataFrame) -> list[str]:
    """Unknown coded values and implausible numbers, one message per offending cell (vectorised)."""
    return _prepare(frame)[1]


def _allowed(column: str) -> list[object]:
    if column in BOOLEANS:
        return [False, True]
    return [member.value for member in CODED[column]]


def _prepare(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Typed copy of the columns the rules read, and the problems found on the way.

    Each coded column is factorised once (hashing a million strings once, not in every rule) and
    its few distinct values are checked; numbers are converted to float once.
    """
    prepared = pd.DataFrame(index=frame.index)
    problems: list[str] = []
    for column in (*CODED, *BOOLEANS):
        if column not in frame:
            continue
        allowed = _allowed(column)
        codes, uniques = pd.factorize(frame[column], use_na_sentinel=True)
        lookup = np.array(
            [_position(allowed, value, column) for value in list(uniques)], dtype=np.int64
        )
        for slot in np.flatnonzero(lookup < 0):
            shown = ", ".join(
                "true" if v is True else "false" if v is False else str(v) for v in allowed
            )
            problems += [
                f"row {i}: {column}={list(uniques)[slot]!r} is not allowed (allowed: {shown})"
                for i in np.flatnonzero(codes == slot)
            ]
        final = np.where(codes >= 0, lookup[codes] if len(lookup) else -1, -1)
        prepared[column] = pd.Categorical.from_codes(
            np.maximum(final, -1), categories=pd.Index(allowed)
        )
    for column, (low, high, unit) in PLAUSIBLE.items():
        if column not in frame:
            continue
        values = pd.to_numeric(frame[column], errors="coerce").astype(float)
        bad = (values < low) | (values > high) | (values.isna() & frame[column].notna())
        problems += [
            f"row {i}: {column}={frame[column].iloc[i]!r} is not a number in {low:g}-{high:g} {unit}"
            for i in np.flatnonzero(bad.to_numpy())
        ]
        prepared[column] = values
    return prepared, problems


def _position(allowed: list[object], value: object, column: str) -> int:
    if column in BOOLEANS and not isinstance(value, bool | np.bool_):
        return -1
    try:
        return allowed.index(value)
    except ValueError:
        return -1


@dataclass(frozen=True)
class _Graded:
    status: IntArray  # index into STATUSES
    grade: IntArray  # -1 when not gradable
    minimum: IntArray
    case: IntArray  # index into CASES
    hits: list[IntArray]  # per domain, index into instrument.criteria or -1
    missing: IntArray  # bit mask over the toxicity's missing fields, in MISSING_FIELDS order


def grade_frame(
    frame: pd.DataFrame, policy: Policy = ASCO_2021, *, lower_bounds: bool = False
) -> pd.DataFrame:
    """Grade every row; returns the contract's output columns, indexed like ``frame``.

    With ``lower_bounds`` two more columns, ``crs_at_least`` and ``icans_at_least``: the grade, or
    for a not-gradable row the grade it has at least (what the course and the flags work from).

    Blank cells (None/NaN) mean "not assessed". Raises :class:`FrameValidationError` for a coded
    value that is not allowed or an implausible number, because an unknown value would otherwise be
    read as "not assessed" and a finding could be lost.
    """
    index = frame.index
    frame = frame.reset_index(drop=True)
    for column in (*INPUT_COLUMNS, *EXTRA_COLUMNS):
        if column not in frame:
            frame[column] = None
    frame, problems = _prepare(frame)
    if problems:
        raise FrameValidationError(problems)
    choices = policy.grading.active_choices()
    crs = _grade_crs(frame, policy, choices)
    icans = _grade_icans(frame, policy, choices)
    effective_crs = np.where(crs.grade >= 0, crs.grade, crs.minimum)
    effective_icans = np.where(icans.grade >= 0, icans.grade, icans.minimum)
    out = pd.DataFrame(index=frame.index)
    out["crs_grade"] = pd.array(np.where(crs.grade >= 0, crs.grade, 0), dtype="Int64")
    out.loc[crs.grade < 0, "crs_grade"] = pd.NA
    out["icans_grade"] = pd.array(np.where(icans.grade >= 0, icans.grade, 0), dtype="Int64")
    out.loc[icans.grade < 0, "icans_grade"] = pd.NA
    statuses = [s.value for s in STATUSES]
    out["crs_status"] = pd.Categorical.from_codes(crs.status, categories=pd.Index(statuses))
    out["icans_status"] = pd.Categorical.from_codes(icans.status, categories=pd.Index(statuses))
    out["crs_reason"] = _reasons(crs, crs_table.INSTRUMENT)
    out["icans_reason"] = _reasons(icans, icans_table.INSTRUMENT)
    for action, column in (
        ("tocilizumab", "tocilizumab_indicated"),
        ("corticosteroids", "steroids_indicated"),
        ("icu", "icu_indicated"),
    ):
        out[column] = _indicated(policy, action, effective_crs, effective_icans)
    out["missing"] = _missing_text(crs.missing | icans.missing)  # bits share MISSING_FIELDS
    if lower_bounds:
        out["crs_at_least"] = effective_crs
        out["icans_at_least"] = effective_icans
    out.index = index
    return out


def _indicated(policy: Policy, action: str, crs: IntArray, icans: IntArray) -> NDArray[np.bool_]:
    result = np.zeros(len(crs), dtype=bool)
    alive = (crs != DEATH_GRADE) & (icans != DEATH_GRADE)  # grade 5 raises no flag
    for rule in policy.escalation:
        if rule.action != action or rule.level != "indicated":
            continue
        if rule.crs_grade_1_for_more_than_hours is not None:
            continue  # needs the course's duration; one assessment never raises it
        mask = np.ones(len(crs), dtype=bool)
        if rule.crs_at_least is not None:
            mask &= crs >= rule.crs_at_least
        if rule.crs_exactly is not None:
            mask &= crs == rule.crs_exactly
        if rule.icans_at_least is not None:
            mask &= icans >= rule.icans_at_least
        result |= mask
    result &= alive
    return result


def _select(conditions: list[NDArray[np.bool_]], choices: list[int], default: int) -> IntArray:
    return np.select(conditions, choices, default=default).astype(np.int64, copy=False)


def _blank(frame: pd.DataFrame, field: str) -> NDArray[np.bool_]:
    return frame[field].isna().to_numpy(dtype=bool)


def _bits(frame: pd.DataFrame, needed: dict[str, NDArray[np.bool_]]) -> IntArray:
    mask = np.zeros(len(frame), dtype=np.int64)
    for field, need in needed.items():
        bit = 1 << MISSING_FIELDS.index(field)
        mask |= np.where(need & _blank(frame, field), bit, 0)
    return mask


def _grade_crs(frame: pd.DataFrame, policy: Policy, choices: frozenset[str]) -> _Graded:
    table = crs_table.INSTRUMENT
    (fever8, fever_at), (masked8, masked_at), (hyp8, hyp_at), (oxy8, oxy_at), (death8, death_at) = (
        evaluate_domain_frame(table, d, frame, choices)
        for d in ("fever", "masking", "hypotension", "hypoxia", "death")
    )
    fever, masked, hyp, oxy, death = (
        a.astype(np.int64) for a in (fever8, masked8, hyp8, oxy8, death8)
    )
    complete = (hyp >= 0) & (oxy >= 0)
    most = np.maximum(np.maximum(hyp, 0), np.maximum(oxy, 0))
    is_death = death == 5
    by_fever = ~is_death & (fever == 1)
    by_mask = ~is_death & ~by_fever & (masked == 1)
    opened = by_fever | by_mask
    not_crs = ~is_death & ~opened & (fever == 0) & (masked == 0)
    unknown = ~is_death & ~opened & ~not_crs
    lower = np.maximum(most, np.where(fever == 1, 1, 0))
    partial = opened & ~complete
    partial4 = partial & (lower == 4)
    partial_lt4 = partial & (lower < 4)
    full = opened & complete
    by_domains = full & (most > 0)
    fever_only = full & (most == 0) & (fever == 1)
    masked_nf = full & (most == 0) & (fever != 1)
    rule = policy.grading.masked_without_findings
    mnf_graded = masked_nf & (rule == "grade_1")
    mnf_incomplete = masked_nf & ~mnf_graded & (fever < 0)
    mnf_zero = masked_nf & ~mnf_graded & ~mnf_incomplete & (rule == "grade_0")
    mnf_open = masked_nf & ~mnf_graded & ~mnf_incomplete & ~mnf_zero

    g, n, u = (
        STATUSES.index(Status.GRADED),
        STATUSES.index(Status.NO_TOXICITY),
        STATUSES.index(Status.NOT_GRADABLE),
    )
    conditions = [
        is_death,
        not_crs,
        unknown,
        partial4,
        partial_lt4,
        by_domains,
        fever_only,
        mnf_graded,
        mnf_incomplete,
        mnf_zero,
        mnf_open,
    ]
    status = _select(conditions, [g, n, u, g, u, g, g, g, u, n, u], u)
    grade = np.select(conditions, [5, 0, -1, 4, -1, most, 1, 1, -1, 0, -1], -1).astype(
        np.int64, copy=False
    )
    minimum = np.select(conditions, [5, 0, 0, 4, lower, most, 1, 1, 0, 0, 0], 0).astype(
        np.int64, copy=False
    )
    c = CASES.index
    case = _select(
        conditions,
        [
            c(Case.DEATH),
            c(Case.NOT_CRS),
            c(Case.INCOMPLETE),
            c(Case.BY_DOMAINS),
            c(Case.INCOMPLETE),
            c(Case.BY_DOMAINS),
            c(Case.FEVER_ONLY),
            c(Case.MASKED_NO_FINDINGS),
            c(Case.INCOMPLETE),
            c(Case.MASKED_NO_FINDINGS),
            c(Case.MASKED_NO_FINDINGS),
        ],
        c(Case.INCOMPLETE),
    )
    # Which rows are reported: the gate (fever, else masking) and both support domains.
    show_fever = not_crs | unknown | (opened & by_fever)
    show_mask = not_crs | unknown | (opened & ~by_fever)
    show_support = ~is_death & ~not_crs
    hits = [
        np.where(is_death, death_at, -1),
        np.where(show_fever, fever_at, -1),
        np.where(show_mask, masked_at, -1),
        np.where(show_support, hyp_at, -1),
        np.where(show_support, oxy_at, -1),
    ]
    temperature = frame["temperature_c"].to_numpy(dtype=float)
    always = np.ones(len(frame), dtype=bool)
    with np.errstate(invalid="ignore"):
        afebrile_or_blank = np.isnan(temperature) | (temperature < 38.0)
    missing = _bits(
        frame,
        {
            "temperature_c": always,
            "antipyretic_or_anticytokine_given": afebrile_or_blank,
            "hypotension": always,
            "oxygen_device": always,
            "oxygen_l_min": Is("oxygen_device", crs_table.NASAL_CANNULA).mask(frame),
        },
    )
    return _Graded(
        status, grade, minimum, case, [h.astype(np.int64, copy=False) for h in hits], missing
    )


def _instrument(frame: pd.DataFrame, policy: Policy) -> IntArray:
    age = frame["age_years"].to_numpy(dtype=float)
    completed = np.floor(age)
    delay = Is("developmental_delay", (True,)).mask(frame)
    at_12 = {"ice": ICE, "capd": CAPD, "either": EITHER}[policy.grading.instrument_at_age_12]
    limit = policy.grading.capd_below_age_years
    with np.errstate(invalid="ignore"):
        conditions = [np.isnan(age), completed < limit, completed == limit, delay]
    return _select(conditions, [EITHER, CAPD, at_12, EITHER], ICE)


def _grade_icans(frame: pd.DataFrame, policy: Policy, choices: frozenset[str]) -> _Graded:
    table = icans_table.INSTRUMENT
    instrument = _instrument(frame, policy)
    use_ice = instrument != CAPD
    use_capd = instrument != ICE
    ice, ice_at = evaluate_domain_frame(table, "ice", frame, choices)
    capd, capd_at = evaluate_domain_frame(table, "capd", frame, choices)
    ice = np.where(use_ice, ice, -1).astype(np.int64, copy=False)
    capd = np.where(use_capd, capd, -1).astype(np.int64, copy=False)
    score = np.maximum(ice, capd)
    others = [evaluate_domain_frame(table, d, frame, choices) for d, _ in OTHER_DOMAINS]
    death, death_at = evaluate_domain_frame(table, "death", frame, choices)
    complete = score >= 0
    worst = np.maximum(score, 0)
    for domain_grade, _ in others:
        complete &= domain_grade >= 0
        worst = np.maximum(worst, domain_grade)
    is_death = death == 5
    full = ~is_death & complete
    partial4 = ~is_death & ~complete & (worst == 4)
    g, n, u = (STATUSES.index(s) for s in STATUSES)
    conditions = [is_death, full & (worst > 0), full & (worst == 0), partial4]
    status = _select(conditions, [g, g, n, g], u)
    grade = np.select(conditions, [5, worst, 0, 4], -1).astype(np.int64, copy=False)
    minimum = np.select([is_death], [5], worst).astype(np.int64, copy=False)
    case = _select(
        [is_death, full | partial4],
        [CASES.index(Case.DEATH), CASES.index(Case.BY_DOMAINS)],
        CASES.index(Case.INCOMPLETE),
    )
    alive = ~is_death
    hits = [
        np.where(is_death, death_at, -1),
        np.where(alive & (ice >= 0), ice_at, -1),
        np.where(alive & (capd >= 0), capd_at, -1),
        *(np.where(alive, at, -1) for _, at in others),
    ]
    no_score = score < 0
    missing = _bits(
        frame,
        {
            "ice_score": no_score & use_ice,
            "capd_score": no_score & use_capd,
            **{field: np.ones(len(frame), dtype=bool) for _, field in OTHER_DOMAINS},
        },
    )
    return _Graded(
        status, grade, minimum, case, [h.astype(np.int64, copy=False) for h in hits], missing
    )


def _reasons(graded: _Graded, instrument: Instrument) -> pd.Categorical:
    """Format each distinct (status, grade, case, rows, missing) once, then spread to every row."""
    size = len(instrument.criteria) + 1
    key = graded.status.copy()
    for part, base in ((graded.grade + 1, 7), (graded.minimum, 6), (graded.case, len(CASES))):
        key = key * base + part
    for hit in graded.hits:
        key = key * size + (hit + 1)
    key = key * (1 << len(MISSING_FIELDS)) + graded.missing
    codes, uniques = pd.factorize(key)
    del uniques
    first = np.zeros(codes.max() + 1 if len(codes) else 0, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    texts = np.empty(len(first), dtype=object)
    for slot, row in enumerate(first):
        grade = int(graded.grade[row])
        rule_ids = [instrument.criteria[h[row]].rule_id for h in graded.hits if h[row] >= 0]
        texts[slot] = describe(
            STATUSES[graded.status[row]],
            grade if grade >= 0 else None,
            int(graded.minimum[row]),
            CASES[graded.case[row]],
            rule_ids,
            _fields(int(graded.missing[row])),
        )
    return _categorical(codes, texts)


def _categorical(codes: NDArray[np.intp], texts: NDArray[np.object_]) -> pd.Categorical:
    """Strings shared by many rows, stored once (one million reasons cost one million codes)."""
    categories, inverse = np.unique(texts.astype(str), return_inverse=True)
    result: pd.Categorical = pd.Categorical.from_codes(
        inverse[codes], categories=pd.Index(categories.tolist())
    )
    return result


def _fields(bits: int) -> list[str]:
    return [field for i, field in enumerate(MISSING_FIELDS) if bits & (1 << i)]


def _missing_text(bits: IntArray) -> pd.Categorical:
    codes, uniques = pd.factorize(bits)
    return _categorical(codes, np.array([";".join(_fields(int(b))) for b in uniques], dtype=object))
