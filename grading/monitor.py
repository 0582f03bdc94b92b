"""What a cohort's data says now: the findings that alerts are raised from (issue #4 stores,
deduplicates and acknowledges them). Each finding names its rule, source and evidence.

Kinds: ``crs_grade`` and ``icans_grade`` (new or rising within an episode), ``tocilizumab``,
``consider_tocilizumab``, ``tocilizumab_limit``, ``steroids``, ``icu`` (when the flag turns on),
``missed_assessment``, ``ivig_due``, ``unexpected_b_cell_depletion``, ``cytopenia`` (CTCAE grade
3-4 neutropenia or thrombocytopenia, ICAHT grade 3-4) and ``consider_iec_hs`` (unconfirmed criteria).
Decision support only: every finding is for a clinician to review.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from grading.bcells import UNEXPECTED_DEPLETION, b_cell_summary
from grading.course import Course, grade_course
from grading.cytopenia import DEFAULT_POLICY, assess_icaht, ctcae_frame, screen_iec_hs
from grading.cytopenia import ScreenStatus as IecStatus
from grading.immunoglobulin import SCHEDULE, IgPolicy, ivig_rules, ivig_summary
from grading.policy import Policy
from grading.policy_asco_2021 import ASCO_2021
from grading.records import LabResult, Patient, Sex
from grading.schedule import due_items

COLUMNS = ("patient_id", "kind", "severity", "at", "rule_id", "detail", "citation", "evidence")
KINDS = (
    "crs_grade", "icans_grade", "tocilizumab", "consider_tocilizumab", "tocilizumab_limit",
    "steroids", "icu", "missed_assessment", "ivig_due", "unexpected_b_cell_depletion",
    "cytopenia", "consider_iec_hs",
)  # fmt: skip
ASTCT = "Lee 2019 ASTCT consensus grading"


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def _frame(rows: Iterable[tuple[object, ...]]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(COLUMNS))


def _severity(grade: np.ndarray) -> np.ndarray:
    return np.select([grade >= 3, grade == 2], ["critical", "warning"], "info")


def course_findings(course: Course, policy: Policy = ASCO_2021) -> pd.DataFrame:
    """Rising grades within an episode, and escalation flags where they turn on."""
    rows = course.assessments
    parts = []
    for syndrome, episode, grade_column in (
        ("crs", "crs_episode", "crs_at_least"),
        ("icans", "icans_episode", "icans_at_least"),
    ):
        grade = rows[grade_column].to_numpy()
        inside = rows[episode].to_numpy() >= 0
        key = np.where(inside, rows[episode].to_numpy(), -1)
        running = pd.Series(np.where(inside, grade, 0)).groupby(key).cummax()
        earlier = running.groupby(key).shift(1).fillna(0).to_numpy()  # highest so far, same episode
        rising = inside & (grade >= 1) & (grade > earlier)
        chosen = rows[rising]
        reasons = chosen[f"{syndrome}_reason"].astype(str)
        parts.append(
            pd.DataFrame(
                {
                    "patient_id": chosen["patient_id"].to_numpy(),
                    "kind": f"{syndrome}_grade",
                    "severity": _severity(grade[rising]),
                    "at": chosen["observed_at"].to_numpy(),
                    "rule_id": f"{syndrome.upper()}-GRADE",
                    "detail": [f"{syndrome.upper()} {r}" for r in reasons],
                    "citation": ASTCT,
                    "evidence": "C",
                }
            )
        )
    flag = rows["tocilizumab_flag"].astype(str)
    patient = rows["patient_id"].to_numpy()
    steroid_rule = ", ".join(r.rule_id for r in policy.escalation if r.action == "corticosteroids")
    icu_rule = ", ".join(
        r.rule_id for r in policy.escalation if r.action == "icu" and r.level == "indicated"
    )
    for kind, on, rule_id, severity in (
        ("tocilizumab", flag == "indicated", "TOCI-CRS-2, TOCI-CRS-1-ICANS", "warning"),
        ("consider_tocilizumab", flag == "consider", "TOCI-CRS-1-PERSISTENT", "info"),
        ("tocilizumab_limit", flag == "limit_reached", "TOCILIZUMAB-DOSE-GUARD", "critical"),
        ("steroids", rows["steroids_indicated"].astype(bool), steroid_rule, "warning"),
        ("icu", rows["icu_indicated"].astype(bool), icu_rule, "critical"),
    ):
        on_rows = on.to_numpy(dtype=bool)
        same_patient = np.r_[False, patient[1:] == patient[:-1]]
        turned_on = on_rows & ~(np.r_[False, on_rows[:-1]] & same_patient)
        chosen = rows[turned_on]
        parts.append(
            pd.DataFrame(
                {
                    "patient_id": chosen["patient_id"].to_numpy(),
                    "kind": kind,
                    "severity": severity,
                    "at": chosen["observed_at"].to_numpy(),
                    "rule_id": rule_id,
                    "detail": [
                        f"{kind.replace('_', ' ')}: CRS {c}, ICANS {i}"
                        for c, i in zip(chosen["crs_at_least"], chosen["icans_at_least"],
                                        strict=True)
                    ],
                    "citation": policy.name,
                    "evidence": "C",
                }
            )
        )  # fmt: skip
    return pd.concat(parts, ignore_index=True)


def lab_findings(
    patients: pd.DataFrame,
    labs: pd.DataFrame,
    drugs: pd.DataFrame,
    infections: pd.DataFrame,
    at: datetime,
) -> pd.DataFrame:
    """IVIG due, unexpected B-cell depletion, severe cytopenia, ICAHT 3-4 and the IEC-HS screen."""
    labs = labs[pd.to_datetime(labs["collected_at"]) <= at]
    rows: list[tuple[object, ...]] = []
    ivig = ivig_summary(patients, labs, drugs, infections, at)
    rules = {rule.rule_id: rule for rule in ivig_rules(IgPolicy())}
    for r in _records(ivig[ivig["indicated"].fillna(False).astype(bool)]):
        rule = rules[str(r["rule_id"])]
        rows.append((r["patient_id"], "ivig_due", "warning", r["last_igg_at"], rule.rule_id,
                     f"IgG {r['last_igg_mg_dl']:g} mg/dL: IVIG indicated", rule.citation,
                     rule.evidence))  # fmt: skip
    for r in _records(ivig[ivig["ivig_overdue"].fillna(False).astype(bool)]):
        due = pd.Timestamp(r["next_ivig_due_at"])
        rows.append((r["patient_id"], "ivig_due", "warning", due, SCHEDULE.rule_id,
                     f"next IVIG was due {due:%Y-%m-%d}", SCHEDULE.citation,
                     SCHEDULE.evidence))  # fmt: skip
    cells = b_cell_summary(patients, labs)
    for r in _records(cells[cells["unexpected_depletion"].astype(bool)]):
        rows.append((r["patient_id"], "unexpected_b_cell_depletion", "warning",
                     r["aplasia_onset_at"], UNEXPECTED_DEPLETION.rule_id,
                     UNEXPECTED_DEPLETION.source_text, UNEXPECTED_DEPLETION.citation,
                     UNEXPECTED_DEPLETION.evidence))  # fmt: skip
    sexes = {
        str(p.patient_id): (Sex(p.sex) if isinstance(p.sex, str) and p.sex else None)
        for p in patients.itertuples()
    }
    graded = ctcae_frame(labs, sexes)
    severe = graded[
        (graded["ctcae_grade"].fillna(0) >= 3) & graded["analyte"].isin(["anc", "platelets"])
    ]
    severe = severe.sort_values("collected_at").drop_duplicates(["patient_id", "analyte"])
    for r in _records(severe):
        rows.append((r["patient_id"], "cytopenia", "warning", r["collected_at"], r["ctcae_rule"],
                     f"{r['ctcae_term']} grade {r['ctcae_grade']} ({r['value_canonical']:g} "
                     f"{r['unit_canonical']})", "CTCAE v5.0 (as transcribed)", "U"))  # fmt: skip
    rows += _per_patient_findings(patients, labs, at)
    return _frame(rows)


def _per_patient_findings(
    patients: pd.DataFrame, labs: pd.DataFrame, at: datetime
) -> list[tuple[object, ...]]:
    """ICAHT and the IEC-HS screen need the patient's whole lab history as records."""
    rows: list[tuple[object, ...]] = []
    by_patient = dict(tuple(labs.groupby("patient_id")))
    for record in patients.to_dict("records"):
        patient = Patient.model_validate({k: v for k, v in record.items() if not _blank(v)})
        mine = by_patient.get(patient.patient_id)
        if mine is None:
            continue
        results = [
            LabResult.model_validate({k: v for k, v in r.items() if not _blank(v)})
            for r in mine.to_dict("records")
        ]
        icaht = assess_icaht(patient, results, DEFAULT_POLICY, as_of=at)
        early = icaht.early
        if early.grade is not None and early.grade >= 3:
            rule = early.hits[0] if early.hits else None
            # Stamped at the start of its day 0-30 window (the infusion), not at the moment of
            # evaluation, so that one grade is one finding however often it is re-evaluated.
            rows.append((patient.patient_id, "cytopenia", "critical", patient.infusion_at,
                         rule.rule_id if rule else "ICAHT-EARLY",
                         f"early ICAHT grade {early.grade} ({icaht.provisional})",
                         rule.citation if rule else "Rejeski 2023", "S"))  # fmt: skip
        days = sorted({pd.Timestamp(r.collected_at).normalize() for r in results})
        for day in days:
            moment = day + pd.Timedelta(hours=23, minutes=59)
            if moment.to_pydatetime() <= patient.infusion_at or moment > pd.Timestamp(at):
                continue
            screen = screen_iec_hs(patient, results, DEFAULT_POLICY, at=moment.to_pydatetime())
            if screen.status is IecStatus.POSITIVE:
                rows.append((patient.patient_id, "consider_iec_hs", "warning", moment,
                             "IEC-HS-SCREEN", f"{screen.message} {screen.reason}",
                             "Hines 2023 (tables not verified)", "U"))  # fmt: skip
                break
    return rows


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT


def monitor_cohort(
    patients: pd.DataFrame,
    assessments: pd.DataFrame,
    labs: pd.DataFrame,
    drugs: pd.DataFrame,
    infections: pd.DataFrame,
    at: datetime,
    policy: Policy = ASCO_2021,
) -> pd.DataFrame:
    """Every finding up to ``at``, and the items overdue at ``at``, sorted by patient and time."""
    seen = assessments[pd.to_datetime(assessments["observed_at"]) <= at]
    given = drugs[pd.to_datetime(drugs["given_at"]) <= at]
    course = grade_course(seen, given, patients, policy)
    labs_seen = labs[pd.to_datetime(labs["collected_at"]) <= at]
    overdue = due_items(patients, seen, labs_seen, pd.Timestamp(at))
    missed = overdue[overdue["status"] == "overdue"]
    missed_rows = _frame(
        (r["patient_id"], "missed_assessment", "warning", r["due_at"],
         f"SCHEDULE-{str(r['item']).upper()}",
         f"{r['item']} overdue by {r['overdue_hours']:g} h ({r['phase']})",
         "course policy schedule", "policy")
        for r in _records(missed)
    )  # fmt: skip
    parts = [course_findings(course, policy), missed_rows,
             lab_findings(patients, labs, given, infections, at)]  # fmt: skip
    # Empty parts are left out, as pandas did by itself before deprecating it (same dtypes).
    filled = [p for p in parts if not p.empty]
    found = pd.concat(filled, ignore_index=True) if filled else missed_rows
    found["at"] = pd.to_datetime(found["at"])
    return found.sort_values(["patient_id", "at", "kind"], kind="stable").reset_index(drop=True)
