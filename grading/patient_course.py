"""One patient's course in plain Python: the alert engine's fast path for a single save.

:func:`grading.course.grade_course` is vectorised over a whole cohort; for the few dozen rows of one
patient its pandas overhead (about 40-90 ms) dwarfs the work. This module computes, for one patient,
exactly the parts of the course that the store keeps and alerts on, with the same rules and the
same results:

- per assessment: the CRS and ICANS grades, statuses and reasons, the derived fever masking, the
  CRS and ICANS episodes, the escalation flags that need the course (``tocilizumab_flag``) and the
  lower-bound grades (:func:`grade_patient_course`, columns as in ``Course.assessments``);
- the course findings (rising grades within an episode, flags turning on) in the order and with
  the values of :func:`grading.monitor.course_findings` (:func:`course_findings_of`);
- the items overdue at a moment, as :func:`grading.schedule.due_items` finds them
  (:func:`overdue_items`).

It does not build the episode table or the per-day table (the store keeps neither).

Each assessment is graded by the scalar reference grader (:func:`grading.grade_assessment`, held
equal to :func:`grading.frame.grade_frame` on every row by tests/grading/test_frame_properties.py),
memoised on the graded values: grading depends only on an assessment's own values and its masking,
so a save re-grades only the assessment it added or changed. The rules of the course (episodes,
masking, tocilizumab counts, CRS grade 1 duration) are transcribed from :mod:`grading.course`, step
by step, with its integer-second clock. tests/store/test_fast_path_equivalence.py checks that the
alert engine's grade rows and alerts are equal on both paths over random write sequences.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np

from grading.assessment import Assessment
from grading.course_policy import CoursePolicy, SchedulePolicy
from grading.escalation import effective_grade
from grading.grade import grade_assessment
from grading.policy import Policy
from grading.policy_asco_2021 import ASCO_2021
from grading.records import ANTIPYRETIC_OR_ANTICYTOKINE, Drug

MASKING = "antipyretic_or_anticytokine_given"
#: The assessment fields that grading reads, besides the masking (the memo key, in this order).
GRADE_INPUTS = tuple(
    f
    for f in Assessment.model_fields
    if f not in ("patient_id", "observed_at", "ice_items", "capd_items", MASKING)
)
SECONDS_PER_DAY = 86_400
ASTCT = "Lee 2019 ASTCT consensus grading"  # grading.monitor.ASTCT
_EPOCH = datetime(1970, 1, 1)
_SECOND = timedelta(seconds=1)
_MASKING_DRUGS = frozenset(d.value for d in ANTIPYRETIC_OR_ANTICYTOKINE)
_PLACEHOLDER_AT = datetime(2000, 1, 1)  # grading never reads observed_at


@dataclass(frozen=True)
class RowGrade:
    """One assessment's grades, as grade_frame gives them (``lower_bounds=True``)."""

    crs_grade: int | None
    crs_status: str
    crs_reason: str
    icans_grade: int | None
    icans_status: str
    icans_reason: str
    tocilizumab_indicated: bool
    steroids_indicated: bool
    icu_indicated: bool
    crs_at_least: int
    icans_at_least: int


@dataclass(frozen=True)
class CourseRow:
    """One assessment in the graded course (the columns of ``Course.assessments`` the store uses).

    ``masking`` is the value graded with: derived from the drug log (a bool), or the recorded value
    (``None`` when blank) when the assessments carry one.
    """

    position: int  # index into the input sequence (``_row`` of grade_course)
    observed_at: datetime
    grade: RowGrade
    masking: bool | None
    crs_episode: int
    icans_episode: int
    tocilizumab_flag: str


class UnsupportedRecordError(ValueError):
    """Raised when a stored assessment does not validate as an :class:`Assessment`; the caller
    then grades through the reference path (grade_frame), which reports the problem itself."""


class _Grader:
    """Grades assessment values under one policy, memoised (values are plain hashable scalars)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.grade: Callable[[tuple[Any, ...], bool | None], RowGrade] = lru_cache(maxsize=65_536)(
            self._grade
        )

    def _grade(self, values: tuple[Any, ...], masking: bool | None) -> RowGrade:
        fields = dict(zip(GRADE_INPUTS, values, strict=True))
        try:
            assessment = Assessment(
                patient_id="x", observed_at=_PLACEHOLDER_AT, **{MASKING: masking},
                **{k: v for k, v in fields.items() if v is not None},
            )  # fmt: skip
        except ValueError as error:
            raise UnsupportedRecordError(str(error)) from error
        result = grade_assessment(assessment, self.policy)
        crs, icans = result.crs, result.icans
        return RowGrade(
            crs.grade, crs.status.value, crs.reason, icans.grade, icans.status.value,
            icans.reason, result.indicated("tocilizumab"), result.indicated("corticosteroids"),
            result.indicated("icu"), effective_grade(crs), effective_grade(icans),
        )  # fmt: skip


_graders: dict[int, _Grader] = {}


def _grader(policy: Policy) -> _Grader:
    grader = _graders.get(id(policy))
    if grader is None or grader.policy is not policy:
        grader = _graders[id(policy)] = _Grader(policy)
    return grader


def _seconds(moment: datetime) -> int:
    """Whole seconds since 1970, truncated like ``datetime64[s]``."""
    return (moment - _EPOCH) // _SECOND


def _episodes(
    onset: Sequence[bool],
    finding: Sequence[bool],
    clean: Sequence[bool],
    seconds: Sequence[int],
    course: CoursePolicy,
) -> list[tuple[int, int]]:
    """(onset position, resolving position or -1) per episode, as grading.course._episodes.

    A group of rows begins at every finding (and at the first row); the first finding-free row of
    a group resolves an episode begun before it when the group's finding-free rows span the
    resolution period and are numerous enough.
    """
    groups: dict[int, list[int]] = {}
    group = 0
    for i, is_finding in enumerate(finding):
        if is_finding or i == 0:
            group += 1
        if clean[i]:
            groups.setdefault(group, []).append(i)
    hours, least = course.episodes.resolution_hours, course.episodes.resolution_min_assessments
    resolving = [
        rows[0]
        for rows in groups.values()
        if seconds[rows[-1]] - seconds[rows[0]] >= hours * 3600 and len(rows) >= least
    ]
    onsets = [i for i, is_onset in enumerate(onset) if is_onset]
    episodes: list[tuple[int, int]] = []
    search = 0
    while True:
        begin = next((i for i in onsets if i >= search), None)
        if begin is None:
            return episodes
        end = next((i for i in resolving if i > begin), -1)
        episodes.append((begin, end))
        if end < 0:
            return episodes
        search = end


def _episode_of_row(n: int, episodes: list[tuple[int, int]]) -> list[int]:
    """Per row, the episode it lies in (onset <= row < resolution, or to the end), or -1."""
    marks = [-1] * n
    for number, (begin, end) in enumerate(episodes):
        for i in range(begin, end if end >= 0 else n):
            marks[i] = number
    return marks


def grade_patient_course(
    assessments: Sequence[tuple[datetime, tuple[Any, ...], bool | None]],
    drugs: Iterable[tuple[datetime, str]],
    policy: Policy = ASCO_2021,
    course: CoursePolicy | None = None,
) -> list[CourseRow]:
    """Grade one patient's course, in (time, input order) order, as grade_course does.

    ``assessments``: (observed_at, the values of :data:`GRADE_INPUTS`, the recorded masking) per
    assessment, naive times. ``drugs``: (given_at, drug code) per dose. Raises
    :class:`UnsupportedRecordError` when an assessment does not validate.
    """
    course = course or CoursePolicy()
    grade = _grader(policy).grade
    order = sorted(range(len(assessments)), key=lambda i: (assessments[i][0], i))
    rows = [assessments[i] for i in order]
    n = len(rows)
    seconds = [_seconds(at) for at, _, _ in rows]
    given = any(recorded is not None for _, _, recorded in rows)

    # CRS episodes from the grades without masking: onset needs a documented fever.
    raw = [grade(values, False) for _, values, _ in rows]
    where = {name: GRADE_INPUTS.index(name)
             for name in ("temperature_c", "hypotension", "oxygen_device")}  # fmt: skip
    crs_finding, crs_clean = [], []
    for _, values, _ in rows:
        temperature = values[where["temperature_c"]]
        hypotension, device = values[where["hypotension"]], values[where["oxygen_device"]]
        fever = temperature is not None and temperature >= 38.0
        crs_finding.append(
            fever
            or (hypotension is not None and hypotension != "none")
            or (device is not None and device != "room_air")
        )
        crs_clean.append(
            temperature is not None and temperature < 38.0
            and hypotension == "none" and device == "room_air"
        )  # fmt: skip
    crs_onset = [r.crs_at_least >= 1 for r in raw]
    crs_episodes = _episodes(crs_onset, crs_finding, crs_clean, seconds, course)
    crs_episode = _episode_of_row(n, crs_episodes)

    doses = [(_seconds(at), str(drug)) for at, drug in drugs]
    if given:
        masking: list[bool | None] = [recorded for _, _, recorded in rows]
    else:
        masking_times = sorted(s for s, drug in doses if drug in _MASKING_DRUGS)
        masking = []
        for i in range(n):
            episode = crs_episode[i]
            if episode < 0:
                masking.append(False)
                continue
            onset = seconds[crs_episodes[episode][0]]
            masking.append(any(onset <= s <= seconds[i] for s in masking_times))
    graded = [raw[i] if masking[i] is False else grade(rows[i][1], masking[i]) for i in range(n)]

    icans_episodes = _episodes(
        [g.icans_at_least >= 1 for g in graded],
        [g.icans_at_least >= 1 for g in graded],
        [g.icans_status == "no_toxicity" for g in graded],
        seconds,
        course,
    )
    icans_episode = _episode_of_row(n, icans_episodes)
    flags = _tocilizumab_flags(graded, seconds, crs_episodes, crs_episode, doses, policy)
    return [
        CourseRow(order[i], rows[i][0], graded[i], masking[i], crs_episode[i], icans_episode[i],
                  flags[i])
        for i in range(n)
    ]  # fmt: skip


def _tocilizumab_flags(
    graded: list[RowGrade],
    seconds: list[int],
    crs_episodes: list[tuple[int, int]],
    crs_episode: list[int],
    doses: list[tuple[int, str]],
    policy: Policy,
) -> list[str]:
    """'consider' after CRS grade 1 has lasted, and the dose guard (grading.course._course_flags)."""
    limits = [
        rule.crs_grade_1_for_more_than_hours
        for rule in policy.escalation
        if rule.action == "tocilizumab" and rule.level == "consider"
        and rule.crs_grade_1_for_more_than_hours is not None
    ]  # fmt: skip
    # grade_course counts doses from its origin, ten years before the first assessment.
    origin = min(seconds) - 10 * 365 * SECONDS_PER_DAY if seconds else 0
    toci = sorted(s for s, drug in doses if drug == Drug.TOCILIZUMAB.value and s >= origin)
    dosing = policy.tocilizumab
    flags: list[str] = []
    peak: dict[int, int] = {}
    for i, row in enumerate(graded):
        crs, episode = row.crs_at_least, crs_episode[i]
        consider = False
        if episode >= 0:
            peak[episode] = max(peak.get(episode, 0), crs)
            if crs == 1 and peak[episode] <= 1:
                hours = (seconds[i] - seconds[crs_episodes[episode][0]]) / 3600
                consider = any(hours > limit for limit in limits)
        in_24h = sum(1 for s in toci if seconds[i] - SECONDS_PER_DAY < s <= seconds[i])
        total = sum(1 for s in toci if s <= seconds[i])
        limit_reached = in_24h >= dosing.max_doses_per_24h or total >= dosing.max_doses_total
        if row.tocilizumab_indicated:
            flags.append("limit_reached" if limit_reached else "indicated")
        else:
            flags.append("consider" if consider else "")
    return flags


def _severity(grade: int) -> str:
    return "critical" if grade >= 3 else "warning" if grade == 2 else "info"


def course_findings_of(
    patient_id: str, rows: Sequence[CourseRow], policy: Policy = ASCO_2021
) -> list[dict[str, Any]]:
    """The findings of :func:`grading.monitor.course_findings` for one patient's graded course,
    in its order: rising CRS grades, rising ICANS grades, then each flag where it turns on."""
    found: list[dict[str, Any]] = []

    def add(kind: str, severity: str, at: datetime, rule_id: str, detail: str, citation: str,
            evidence: str) -> None:  # fmt: skip
        found.append({"patient_id": patient_id, "kind": kind, "severity": severity, "at": at,
                      "rule_id": rule_id, "detail": detail, "citation": citation,
                      "evidence": evidence})  # fmt: skip

    for syndrome in ("crs", "icans"):
        highest: dict[int, int] = {}
        for row in rows:
            episode = row.crs_episode if syndrome == "crs" else row.icans_episode
            if episode < 0:
                continue
            grade = row.grade.crs_at_least if syndrome == "crs" else row.grade.icans_at_least
            earlier = highest.get(episode, 0)
            highest[episode] = max(earlier, grade)
            if grade >= 1 and grade > earlier:
                reason = row.grade.crs_reason if syndrome == "crs" else row.grade.icans_reason
                add(
                    f"{syndrome}_grade",
                    _severity(grade),
                    row.observed_at,
                    f"{syndrome.upper()}-GRADE",
                    f"{syndrome.upper()} {reason}",
                    ASTCT,
                    "C",
                )
    steroid_rule = ", ".join(r.rule_id for r in policy.escalation if r.action == "corticosteroids")
    icu_rule = ", ".join(
        r.rule_id for r in policy.escalation if r.action == "icu" and r.level == "indicated"
    )
    checks: tuple[tuple[str, Callable[[CourseRow], bool], str, str], ...] = (
        ("tocilizumab", lambda r: r.tocilizumab_flag == "indicated",
         "TOCI-CRS-2, TOCI-CRS-1-ICANS", "warning"),
        ("consider_tocilizumab", lambda r: r.tocilizumab_flag == "consider",
         "TOCI-CRS-1-PERSISTENT", "info"),
        ("tocilizumab_limit", lambda r: r.tocilizumab_flag == "limit_reached",
         "TOCILIZUMAB-DOSE-GUARD", "critical"),
        ("steroids", lambda r: r.grade.steroids_indicated, steroid_rule, "warning"),
        ("icu", lambda r: r.grade.icu_indicated, icu_rule, "critical"),
    )  # fmt: skip
    for kind, on, rule_id, severity in checks:
        before = False
        for row in rows:
            now = on(row)
            if now and not before:
                add(kind, severity, row.observed_at, rule_id,
                    f"{kind.replace('_', ' ')}: CRS {row.grade.crs_at_least}, "
                    f"ICANS {row.grade.icans_at_least}", policy.name, "C")  # fmt: skip
            before = now
    return found


def _hours(delta_microseconds: int) -> float:
    """Hours of a time difference as pandas computes them (nanoseconds as a float / 1e9 / 3600)."""
    return float(delta_microseconds * 1000) / 1e9 / 3600


def _microseconds(delta: timedelta) -> int:
    return (delta.days * SECONDS_PER_DAY + delta.seconds) * 1_000_000 + delta.microseconds


def overdue_items(
    infusion_at: datetime,
    assessments: Sequence[tuple[datetime, bool, bool]],
    last_lab_at: datetime | None,
    at: datetime,
    schedule: SchedulePolicy | None = None,
) -> list[tuple[str, datetime, str, float]]:
    """The items overdue at ``at`` for one patient, as grading.schedule.due_items finds them.

    ``assessments``: (observed_at, vitals recorded, neuro recorded) per current assessment;
    ``last_lab_at``: the latest lab collection (any analyte). Returns (item, due_at, phase,
    overdue_hours) in due_items' row order.
    """
    schedule = schedule or SchedulePolicy()
    day = (at.date() - infusion_at.date()).days
    phase = schedule.phase_for(day)
    due: list[tuple[str, datetime, str, float, float]] = []  # + hours allowed past due
    if phase is not None:
        last = {
            "vitals": max((t for t, vitals, _ in assessments if vitals), default=None),
            "neuro": max((t for t, _, neuro in assessments if neuro), default=None),
            "labs": last_lab_at,
        }
        for item in ("vitals", "neuro", "labs"):
            every = getattr(phase, f"{item}_every_hours")
            if every is None:
                continue
            done = last[item]
            since = infusion_at if done is None else done
            due.append((item, since + timedelta(hours=every), phase.name, schedule.grace_hours,
                        0.0))  # fmt: skip
    else:
        visit = _visit(schedule, day)
        if visit is not None:
            window = timedelta(days=schedule.visit_window_days)
            midnight = datetime.combine(infusion_at.date(), datetime.min.time())
            opens = midnight + timedelta(days=visit) - window
            if not any(t >= opens for t, _, _ in assessments):  # a visit done is never overdue
                allowed = 2 * schedule.visit_window_days * 24 + 24 + schedule.grace_hours
                due.append(("visit", opens, f"visit day {visit}", allowed, 0.0))
    overdue = []
    for item, due_at, phase_name, allowed, _ in due:
        late = _hours(_microseconds(at - due_at)) - allowed
        if late > 0:
            overdue.append((item, due_at, phase_name, float(np.round(late, 1))))
    return overdue


def _visit(schedule: SchedulePolicy, day: int) -> int | None:
    """grading.schedule._visit: the visit whose window contains ``day`` or passed most recently."""
    last_phase_end = max((p.to_day for p in schedule.phases), default=-1)
    if day <= last_phase_end:
        return None
    passed = [v for v in schedule.visit_days if v - schedule.visit_window_days <= day]
    if not passed:
        return None
    visit = max(passed)
    return visit if day <= max(schedule.visit_days) + schedule.visit_window_days + 30 else None
