"""Per-patient facts and per-product summaries of a cohort (pure pandas, no database).

Definitions (the cohort view shows them in its captions):

- **Maximum grade**: the highest ``peak_grade`` over the patient's CRS (or ICANS) episodes from
  :func:`grading.course.grade_course` (0 without an episode). Incidence counts patients by it: any
  (≥ 1), 1-2, 3-4, 5.
- **Onset day**: the study day of the first episode's onset (day 0 = infusion day).
  **Duration**: days from onset to resolution, summed over the patient's episodes; blank while an
  episode is ongoing.
- **Drug use**: doses in the drug log given at or after the infusion: tocilizumab, corticosteroids
  (dexamethasone, methylprednisolone, prednisolone, prednisone, hydrocortisone), IVIG.
- **B-cell aplasia days**: from aplasia onset to confirmed recovery (:mod:`grading.bcells`), or to
  the last follow-up when not recovered (``bcell_censored`` true).
- **Last follow-up**: the latest assessment, lab result or dose, in days since the infusion.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard.services.cohort_data import CohortData
from grading.bcells import BCellStatus, b_cell_summary
from grading.course import Course
from grading.records import STEROIDS, Drug

ALL = "all products"
SYNDROMES = ("CRS", "ICANS")
STEROID_NAMES = tuple(sorted(drug.value for drug in STEROIDS))
SUMMARY_COLUMNS = (
    "patient_id", "site_id", "disease", "product", "crs_max_grade", "icans_max_grade",
    "crs_onset_day", "crs_duration_days", "icans_onset_day", "icans_duration_days",
    "tocilizumab_doses", "steroid", "steroid_doses", "bcell_status", "bcell_aplasia_days",
    "bcell_censored", "ivig", "ivig_doses", "follow_up_days",
)  # fmt: skip


def _days(at: pd.Series, infusion: pd.Series) -> pd.Series:
    delta = pd.to_datetime(at) - pd.to_datetime(infusion)
    return delta.dt.total_seconds() / 86_400


def doses_after_infusion(data: CohortData) -> pd.DataFrame:
    """The drug log from the infusion on, with ``day`` (fractional days since the infusion)."""
    drugs = data.drugs.merge(data.patients[["patient_id", "infusion_at"]], on="patient_id")
    drugs["day"] = _days(drugs["given_at"], drugs["infusion_at"])
    return drugs[drugs["day"] >= 0].reset_index(drop=True)


def follow_up_days(data: CohortData) -> pd.Series:
    """Per patient (indexed by id): the last record of any kind, in days since the infusion."""
    parts = [
        frame[["patient_id", column]].set_axis(["patient_id", "at"], axis=1)
        for frame, column in (
            (data.assessments, "observed_at"),
            (data.labs, "collected_at"),
            (data.drugs, "given_at"),
        )
        if not frame.empty
    ]
    times = pd.concat(parts) if parts else pd.DataFrame({"patient_id": [], "at": []})
    times["at"] = pd.to_datetime(times["at"])
    last = times.groupby("patient_id")["at"].max()
    infusion = data.patients.set_index("patient_id")["infusion_at"]
    days = _days(last.reindex(infusion.index), infusion).fillna(0.0)
    return days.clip(lower=0.0).round(2)


def _episode_facts(episodes: pd.DataFrame, syndrome: str, ids: pd.Index) -> pd.DataFrame:
    prefix = syndrome.lower()
    own = episodes[episodes["syndrome"] == syndrome]
    grouped = own.groupby("patient_id")
    first = own.sort_values(["patient_id", "onset_at"]).drop_duplicates("patient_id")
    ongoing = grouped["status"].agg(lambda s: bool((s == "ongoing").any()))
    duration = grouped["duration_days"].sum(min_count=1).where(~ongoing)
    out = pd.DataFrame(index=ids)
    peak = pd.to_numeric(grouped["peak_grade"].max(), errors="coerce").astype("float64")
    out[f"{prefix}_max_grade"] = peak.reindex(ids).fillna(0).astype(int)
    onset = first.set_index("patient_id")["onset_study_day"].astype("Float64")
    out[f"{prefix}_onset_day"] = onset.reindex(ids).astype("Int64")
    out[f"{prefix}_duration_days"] = duration.reindex(ids).astype("float64").round(2)
    return out


def patient_summary(data: CohortData, course: Course | None) -> pd.DataFrame:
    """One row per patient (identified: ``patient_id``), the columns of SUMMARY_COLUMNS."""
    patients = data.patients
    ids = pd.Index(patients["patient_id"], name="patient_id")
    out = patients.set_index("patient_id")[["site_id", "disease", "product"]].copy()
    episodes = course.episodes if course is not None else pd.DataFrame(
        columns=["patient_id", "syndrome", "onset_at", "onset_study_day", "peak_grade",
                 "status", "duration_days"]
    )  # fmt: skip
    for syndrome in SYNDROMES:
        out = out.join(_episode_facts(episodes, syndrome, ids))
    doses = doses_after_infusion(data)
    drug = doses["drug"].astype(str)

    def count(mask: pd.Series) -> pd.Series:
        return doses[mask].groupby("patient_id").size().reindex(ids, fill_value=0).astype(int)

    out["tocilizumab_doses"] = count(drug == Drug.TOCILIZUMAB.value)
    out["steroid_doses"] = count(drug.isin(STEROID_NAMES))
    out["steroid"] = out["steroid_doses"] > 0
    out["ivig_doses"] = count(drug == Drug.IVIG.value)
    out["ivig"] = out["ivig_doses"] > 0
    follow = follow_up_days(data)
    out["follow_up_days"] = follow.reindex(ids)
    out = out.join(_bcell_facts(data, follow))
    return out.reset_index()[list(SUMMARY_COLUMNS)]


def _bcell_facts(data: CohortData, follow: pd.Series) -> pd.DataFrame:
    patients = data.patients
    ids = pd.Index(patients["patient_id"], name="patient_id")
    labs = data.labs
    summary = b_cell_summary(patients[["patient_id", "product", "infusion_at"]], labs)
    summary = summary.set_index("patient_id").reindex(ids)
    onset = pd.to_datetime(summary["aplasia_onset_at"])
    infusion = pd.to_datetime(patients.set_index("patient_id")["infusion_at"]).reindex(ids)
    recovered = summary["status"] == BCellStatus.RECOVERED.value
    last = infusion + pd.to_timedelta(follow.reindex(ids), unit="D")
    end = pd.to_datetime(summary["recovery_at"]).where(recovered, last)
    days = (end.dt.normalize() - onset.dt.normalize()).dt.days
    out = pd.DataFrame(index=ids)
    out["bcell_status"] = summary["status"].astype(str)
    out["bcell_aplasia_days"] = days.astype("Int64")
    out["bcell_censored"] = onset.notna() & ~recovered
    return out


def _by_product(summary: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    groups = [(str(p), part) for p, part in summary.groupby("product", sort=True)]
    return [*groups, (ALL, summary)]


def incidence(summary: pd.DataFrame) -> pd.DataFrame:
    """Patients by maximum grade, per product and syndrome: n, any, 1-2, 3-4, 5 (counts, %)."""
    rows = []
    for product, part in _by_product(summary):
        n = len(part)
        for syndrome in SYNDROMES:
            grade = part[f"{syndrome.lower()}_max_grade"]
            counts = {
                "any": int((grade >= 1).sum()),
                "grade_1_2": int(grade.between(1, 2).sum()),
                "grade_3_4": int(grade.between(3, 4).sum()),
                "grade_5": int((grade == 5).sum()),
            }
            row: dict[str, object] = {"product": product, "syndrome": syndrome, "patients": n}
            for name, value in counts.items():
                row[name] = value
                row[f"{name}_pct"] = round(100 * value / n, 1) if n else np.nan
            rows.append(row)
    return pd.DataFrame(rows)


def _median_iqr(values: pd.Series) -> dict[str, float]:
    clean = pd.to_numeric(values, errors="coerce").dropna().astype(float)
    if clean.empty:
        return {"median": np.nan, "q1": np.nan, "q3": np.nan}
    q1, median, q3 = np.percentile(clean.to_numpy(), [25, 50, 75])
    return {"median": round(float(median), 2), "q1": round(float(q1), 2), "q3": round(float(q3), 2)}


def timing(summary: pd.DataFrame) -> pd.DataFrame:
    """Onset day and duration (days), median and IQR, among the patients with the syndrome."""
    rows = []
    for product, part in _by_product(summary):
        for syndrome in SYNDROMES:
            prefix = syndrome.lower()
            onset = part[f"{prefix}_onset_day"].dropna()
            row: dict[str, object] = {"product": product, "syndrome": syndrome,
                                      "patients_with_episode": len(onset)}  # fmt: skip
            for what, column in (("onset_day", "onset_day"), ("duration_days", "duration_days")):
                values = part[f"{prefix}_{column}"]
                row[f"{what}_n"] = int(values.notna().sum())
                row.update({f"{what}_{k}": v for k, v in _median_iqr(values).items()})
            rows.append(row)
    return pd.DataFrame(rows)


def drug_use(summary: pd.DataFrame) -> pd.DataFrame:
    """Tocilizumab and corticosteroid use per product: patients treated and doses given."""
    rows = []
    for product, part in _by_product(summary):
        rows.append({
            "product": product,
            "patients": len(part),
            "tocilizumab_patients": int((part["tocilizumab_doses"] > 0).sum()),
            "tocilizumab_doses": int(part["tocilizumab_doses"].sum()),
            "steroid_patients": int(part["steroid"].sum()),
            "steroid_doses": int(part["steroid_doses"].sum()),
        })  # fmt: skip
    return pd.DataFrame(rows)


def bcells_ivig(summary: pd.DataFrame) -> pd.DataFrame:
    """B-cell aplasia (patients, recovered, days: median and IQR, recovered patients only) and
    IVIG use (patients, doses) per product."""
    rows = []
    for product, part in _by_product(summary):
        aplastic = part["bcell_aplasia_days"].notna()
        recovered = part["bcell_status"] == BCellStatus.RECOVERED.value
        stats = _median_iqr(part.loc[recovered, "bcell_aplasia_days"])
        rows.append({
            "product": product,
            "patients": len(part),
            "aplasia_patients": int(aplastic.sum()),
            "recovered_patients": int(recovered.sum()),
            "still_aplastic": int(part["bcell_censored"].sum()),
            **{f"aplasia_days_{k}": v for k, v in stats.items()},
            "ivig_patients": int(part["ivig"].sum()),
            "ivig_doses": int(part["ivig_doses"].sum()),
        })  # fmt: skip
    return pd.DataFrame(rows)
