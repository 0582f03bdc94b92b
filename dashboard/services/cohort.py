"""The researcher's cohort view (issue #5): filters in, a de-identified :class:`CohortView` out.

:func:`cohort_view` reads the visible patients and their current records in one read-only unit of
work (:mod:`dashboard.services.cohort_data`), grades the whole cohort's course at once
(:func:`grading.course.grade_course`), summarises it (:mod:`dashboard.services.cohort_stats`) and
de-identifies every frame (:mod:`dashboard.services.deidentify`) before it leaves: no study id, no
date, no free text, no site name. The view's frames are all a page may show or a download may
hold; :data:`EXPORTS` maps each download format to its writer (issue #6 adds formats there).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pandas as pd
from sqlalchemy import Engine

from dashboard.analytics.cumulative_incidence import (
    IncidenceCurve,
    counts_frame,
    cumulative_incidence,
    long_frame,
)
from dashboard.analytics.endpoints import endpoint_frame
from dashboard.services import cohort_stats as stats
from dashboard.services.cohort_data import (
    CohortData,
    CohortFilters,
    CohortOptions,
    cohort_options,
    load_cohort,
    load_patients,
    require_cohort_reader,
)
from dashboard.services.deidentify import (
    PseudonymKey,
    manifest,
    manifest_comment,
    pseudonym_key,
    pseudonyms,
    study_days,
    top_code_ages,
)
from dashboard.services.outcomes import deaths_and_retreatments
from dashboard.store.access import Actor
from dashboard.store.unit_of_work import UnitOfWork
from grading.course import Course, grade_course
from grading.policy_asco_2021 import ASCO_2021

__all__ = ["EXPORTS", "CohortFilters", "CohortOptions", "CohortView", "cohort_view", "options"]

#: The per-patient download: the summary's columns with the pseudonym for the study id.
EXPORT_COLUMNS = ("pseudonym", *stats.SUMMARY_COLUMNS[1:])
LANE_COLUMNS = (
    "pseudonym", "site_id", "product", "follow_up_days", "crs_max_grade", "icans_max_grade",
)  # fmt: skip
TABLE1_COLUMNS = ["age_years", "sex", "weight_kg"]  # and the group not chosen (TABLE1_GROUPS)
TABLE1_CATEGORICAL = ["sex"]


@dataclass(frozen=True)
class CohortView:
    """Everything the cohort page shows, de-identified (module docstring)."""

    filters: CohortFilters
    patients: int
    summary: pd.DataFrame  # one row per patient: EXPORT_COLUMNS
    table1: pd.DataFrame  # characteristic, level, Overall, <product>..., Missing
    incidence: pd.DataFrame
    timing: pd.DataFrame
    drugs: pd.DataFrame
    bcells: pd.DataFrame
    swimmer_lanes: pd.DataFrame  # pseudonym, product, follow_up_days, crs/icans_max_grade
    swimmer_episodes: pd.DataFrame  # pseudonym, syndrome, start_day, end_day, peak_grade, ongoing
    swimmer_markers: pd.DataFrame  # pseudonym, kind (tocilizumab, steroid), day
    curves: tuple[IncidenceCurve, ...]  # cumulative incidence per endpoint and product (no ids)
    manifest: dict[str, str]
    policy: str
    seconds: float = field(default=0.0, compare=False)

    def frames(self) -> dict[str, pd.DataFrame]:
        """Every table of the view by name (what an export may contain)."""
        return {
            "summary": self.summary, "table1": self.table1, "incidence": self.incidence,
            "timing": self.timing, "drugs": self.drugs, "bcells": self.bcells,
            "swimmer_lanes": self.swimmer_lanes, "swimmer_episodes": self.swimmer_episodes,
            "swimmer_markers": self.swimmer_markers,
            "incidence_curves": long_frame(self.curves, "curve"),
            "numbers_at_risk": long_frame(self.curves, "at_risk"),
            "curve_counts": counts_frame(self.curves),
        }  # fmt: skip


def options(engine: Engine, actor: Actor) -> CohortOptions:
    """The filter choices for this actor (sites, diseases, products, infusion years)."""
    require_cohort_reader(actor)
    with UnitOfWork(engine, actor) as uow:
        return cohort_options(uow.session, actor)


def cohort_view(
    engine: Engine, actor: Actor, filters: CohortFilters, table1_by: str = "product"
) -> CohortView:
    """The de-identified cohort view (Table 1 grouped by ``table1_by``: product or disease);
    AccessDeniedError for other roles or foreign sites."""
    started = time.perf_counter()
    require_cohort_reader(actor)
    with UnitOfWork(engine, actor) as uow:  # read only: never committed
        data = load_cohort(uow.session, actor, filters)
        key = pseudonym_key(uow.session)
    data = replace(data, patients=top_code_ages(data.patients))
    course = _grade(data)
    summary = stats.patient_summary(data, course)
    names = pseudonyms(data.patients["patient_id"], key)
    view = CohortView(
        filters=filters,
        patients=len(data.patients),
        summary=_pseudonymised(summary, names)[list(EXPORT_COLUMNS)],
        table1=table_one(data.patients, table1_by),
        incidence=stats.incidence(summary),
        timing=stats.timing(summary),
        drugs=stats.drug_use(summary),
        bcells=stats.bcells_ivig(summary),
        swimmer_lanes=_pseudonymised(summary, names)[list(LANE_COLUMNS)],
        swimmer_episodes=_swimmer_episodes(data, course, summary, names),
        swimmer_markers=_swimmer_markers(data, names),
        curves=_curves(data, course),
        manifest=_manifest(key, filters),
        policy=ASCO_2021.name,
    )
    return replace(view, seconds=round(time.perf_counter() - started, 3))


def _grade(data: CohortData) -> Course | None:
    if data.assessments.empty:
        return None
    with warnings.catch_warnings():  # pandas FutureWarning inside grading.course's concat
        warnings.simplefilter("ignore", FutureWarning)
        return grade_course(data.assessments, data.drugs, data.patients, ASCO_2021)


def table_one_of(
    engine: Engine, actor: Actor, filters: CohortFilters, by: str = "product"
) -> pd.DataFrame:
    """Table 1 of the filtered cohort grouped by ``by`` (reads the patients only)."""
    require_cohort_reader(actor)
    with UnitOfWork(engine, actor, read_only=True) as uow:
        patients = load_patients(uow.session, actor, filters)
    return table_one(top_code_ages(patients), by)


def _curves(data: CohortData, course: Course | None) -> tuple[IncidenceCurve, ...]:
    """Cumulative incidence of each endpoint per product (dashboard.analytics); the endpoint
    frame's study ids never leave this function."""
    endpoints = endpoint_frame(data, course, deaths_and_retreatments(data))
    return tuple(cumulative_incidence(endpoints.drop(columns=["patient_id", "note"])))


def _pseudonymised(frame: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    out = frame.copy()
    out.insert(0, "pseudonym", out.pop("patient_id").map(names))
    return out


def _manifest(key: PseudonymKey, filters: CohortFilters) -> dict[str, str]:
    chosen = {
        "sites": ", ".join(sorted(filters.site_ids)) or "all visible",
        "diseases": ", ".join(sorted(filters.diseases)) or "all",
        "products": ", ".join(sorted(filters.products)) or "all",
        "infusion dates": "restricted" if filters.infused_from or filters.infused_to else "all",
    }
    return manifest(key, filters="; ".join(f"{k}: {v}" for k, v in chosen.items()))


TABLE1_GROUPS = ("product", "disease")


def table_one(patients: pd.DataFrame, by: str = "product") -> pd.DataFrame:
    """Table 1 (tableone) grouped by ``by`` (product or disease), flattened: characteristic,
    level, Overall, one column per group, Missing. Empty without patients."""
    if by not in TABLE1_GROUPS:
        raise ValueError(f"Table 1 is grouped by one of {', '.join(TABLE1_GROUPS)}, not {by!r}")
    columns = ["characteristic", "level", "Overall"]
    if patients.empty:
        return pd.DataFrame(columns=[*columns, "Missing"])
    from tableone import TableOne  # slow to import (scipy, statsmodels): only when needed

    characteristics = [c for c in (*TABLE1_COLUMNS, *TABLE1_GROUPS) if c != by]
    categorical = [c for c in (*TABLE1_CATEGORICAL, *TABLE1_GROUPS) if c != by]
    frame = patients[[*characteristics, by]].copy()
    for name in ("age_years", "weight_kg"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
    for name in categorical:
        frame[name] = frame[name].astype(object)
    frame[by] = frame[by].astype(str)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = TableOne(
            frame, columns=characteristics, categorical=categorical, groupby=by,
            pval=False, missing=True, overall=True, label_suffix=True,
        ).tableone  # fmt: skip
    table.columns = [str(c[1]) for c in table.columns]
    table = table.reset_index()
    table.columns = ["characteristic", "level", *table.columns[2:]]
    ordered = [c for c in table.columns if c not in ("Missing",)] + ["Missing"]
    return pd.DataFrame(table[ordered].astype(str)).reset_index(drop=True)


def _swimmer_episodes(
    data: CohortData, course: Course | None, summary: pd.DataFrame, names: dict[str, str]
) -> pd.DataFrame:
    columns = ["pseudonym", "syndrome", "start_day", "end_day", "peak_grade", "ongoing"]
    if course is None or course.episodes.empty:
        return pd.DataFrame(columns=columns)
    episodes = course.episodes.merge(data.patients[["patient_id", "infusion_at"]], on="patient_id")
    follow = summary.set_index("patient_id")["follow_up_days"]
    ongoing = episodes["status"] == "ongoing"
    end = study_days(episodes["resolved_at"], episodes["infusion_at"])
    return pd.DataFrame({
        "pseudonym": episodes["patient_id"].map(names),
        "syndrome": episodes["syndrome"],
        "start_day": study_days(episodes["onset_at"], episodes["infusion_at"]),
        "end_day": end.where(~ongoing, episodes["patient_id"].map(follow)),
        "peak_grade": episodes["peak_grade"].astype(int),
        "ongoing": ongoing,
    })[columns]  # fmt: skip


def _swimmer_markers(data: CohortData, names: dict[str, str]) -> pd.DataFrame:
    doses = stats.doses_after_infusion(data)
    drug = doses["drug"].astype(str)
    kind = drug.map(lambda d: "steroid" if d in stats.STEROID_NAMES else d)
    keep = kind.isin(["tocilizumab", "steroid"])
    return pd.DataFrame({
        "pseudonym": doses.loc[keep, "patient_id"].map(names),
        "kind": kind[keep],
        "day": doses.loc[keep, "day"].round(2),
    }).reset_index(drop=True)  # fmt: skip


def summary_csv(view: CohortView) -> bytes:
    """The per-patient summary as CSV, headed by the manifest as ``#`` comment lines."""
    body = view.summary.to_csv(index=False, lineterminator="\n")
    return (manifest_comment(view.manifest) + body).encode("utf-8")


#: Download formats of the cohort view: name → (file name, MIME type, writer). Issue #6 adds more.
EXPORTS: dict[str, tuple[str, str, Callable[[CohortView], bytes]]] = {
    "CSV": ("cohort_summary_deidentified.csv", "text/csv", summary_csv),
}
