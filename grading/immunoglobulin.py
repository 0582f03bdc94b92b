"""IgG and IVIG after CAR T: is immunoglobulin replacement indicated, when is the next dose due, how
do the trough levels move (criteria.md 7.3, 7.4).

| Variant             | Row                                                          | Source          | Tag |
|---------------------|--------------------------------------------------------------|-----------------|-----|
| igg_only (default)  | IgG ≤ 400 mg/dL                                              | Hill 2019       | C   |
| igg_with_infections | IgG ≤ 400 mg/dL and ≥ 1 serious infection in the window      | Hill & Seo 2020 | S   |
| igg_with_infections | 400 < IgG ≤ 600 mg/dL and ≥ 2 serious infections in window   | Hill 2019       | C   |

"Recurrent" (≥ 2 serious infections within 180 days) is a policy choice [U]; so are the IVIG interval
(28 days; criteria.md 7.3 "0.4–0.5 g/kg every 3–4 weeks" [U]) and the trough window (the latest IgG
within 7 days before a dose). 400 mg/dL = 4 g/L. The rows of a variant are tried in table order and
the first that holds decides. Without an IgG result the answer is "not assessable", never "not
indicated". Results are "as of" ``at``: later labs, doses and infections are not seen.

Reviewed-by: not yet reviewed by a trial medical monitor (engineering transcription of criteria.md
section 7.3, 2026-11-25).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from grading.bcells import Finding, Rule
from grading.criteria import Between, Blank, as_datetimes, require_columns
from grading.records import (
    Analyte,
    Drug,
    DrugAdministration,
    InfectionEvent,
    LabResult,
    Patient,
    Product,
)
from grading.units import labs_to_canonical, to_canonical

RuleVariant = Literal["igg_only", "igg_with_infections"]
TroughDirection = Literal["rising", "falling", "stable"]

HILL_2019 = (
    "Hill JA, Giralt S, Torgerson TR, Lazarus HM. Blood Rev 2019;38:100596, "
    "doi:10.1016/j.blre.2019.100596, via PMC11272770 Table 1; criteria.md 7.3"
)
HILL_SEO_2020 = (
    "Hill JA, Seo SK. Blood 2020;136(8):925-935 (hematologyadvisor summary); criteria.md 7.3"
)
ASBMT = "HCT guidelines / ASBMT, via PMC11272770 Table 1; criteria.md 7.3"
HILL_2019_TEXT = (
    "check IgG before and within 3 months after CAR T; consider IgRT if IgG ≤400 mg/dL; IgG "
    "400–600 with serious recurrent infections; IgG >600 with impaired vaccine responses"
)

SUMMARY_COLUMNS = (
    "patient_id",
    "status",
    "indicated",
    "rule_id",
    "last_igg_mg_dl",
    "last_igg_at",
    "serious_infections_in_window",
    "last_ivig_at",
    "next_ivig_due_at",
    "ivig_overdue",
    "trough_direction",
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IgPolicy(_Frozen):
    """When a site considers IgG replacement, and how it schedules and follows it. Each field: unit,
    source and evidence tag, rationale."""

    rule: RuleVariant = Field(
        "igg_only",
        description="'igg_only': IgG at or below the threshold [C: Hill 2019]. "
        "'igg_with_infections': the threshold only with a serious infection [S: Hill & Seo 2020], "
        "or the band up to the upper limit with recurrent serious infections [C: Hill 2019]. "
        "Rationale: Hill 2019 is the CAR T-specific primary source; ASBMT advises against "
        "replacement without recurrent infection (criteria.md 7.3), which the second variant serves.",
    )
    igg_threshold_mg_dl: float = Field(
        400,
        gt=0,
        description="Unit: mg/dL (400 mg/dL = 4 g/L). Replacement at or below this IgG. Source: "
        "Hill 2019 'consider IgRT if IgG ≤400 mg/dL' [C: PMC11272770 Table 1; criteria.md 7.3].",
        json_schema_extra={"unit": "mg/dL", "evidence": "C"},
    )
    igg_upper_with_recurrent_infections_mg_dl: float = Field(
        600,
        gt=0,
        description="Unit: mg/dL. Variant 'igg_with_infections': above the threshold and at or "
        "below this IgG, replacement with recurrent serious infections. Source: Hill 2019 'IgG "
        "400–600 with serious recurrent infections' [C]; 600 itself counts as inside the band (the "
        "source does not state inclusivity).",
        json_schema_extra={"unit": "mg/dL", "evidence": "C"},
    )
    recurrent_infections_count: int = Field(
        2,
        ge=1,
        description="Unit: serious infections. 'Recurrent' means at least this many serious "
        "infections within the window. Policy choice [U]: no source defines 'recurrent'.",
        json_schema_extra={"unit": "infections", "evidence": "U"},
    )
    recurrent_infections_window_days: int = Field(
        180,
        ge=1,
        description="Unit: days, counted back from the assessment time, both ends included. Serious "
        "infections with onset in the window count, for both infection rows. Policy choice [U].",
        json_schema_extra={"unit": "days", "evidence": "U"},
    )
    ivig_interval_days: int = Field(
        28,
        ge=1,
        description="Unit: days. Next IVIG due this long after the last dose; overdue from the next "
        "calendar day. Source: criteria.md 7.3 'commonly 0.4–0.5 g/kg every 3–4 weeks, titrated to "
        "trough IgG' [U: not confirmed in a primary source].",
        json_schema_extra={"unit": "days", "evidence": "U"},
    )
    trough_window_days: int = Field(
        7,
        ge=0,
        description="Unit: days. A trough is the latest IgG at or before a dose and at most this "
        "long before it. Policy choice [U].",
        json_schema_extra={"unit": "days", "evidence": "U"},
    )
    trough_stable_within_mg_dl: float = Field(
        50,
        ge=0,
        description="Unit: mg/dL. The last two troughs differing by at most this much are "
        "'stable'. Policy choice [U] (about 10 % at 500 mg/dL).",
        json_schema_extra={"unit": "mg/dL", "evidence": "U"},
    )
    igg_stale_after_days: int = Field(
        35,
        ge=1,
        description="Unit: days. An IgG older than this at the assessment time gets a remark. "
        "Source: Hill & Seo 'screen IgG ... monthly for ≥3 months' [S]. The remark does not "
        "change the decision.",
        json_schema_extra={"unit": "days", "evidence": "S"},
    )

    @model_validator(mode="after")
    def _band_above_threshold(self) -> IgPolicy:
        if self.igg_upper_with_recurrent_infections_mg_dl <= self.igg_threshold_mg_dl:
            raise ValueError(
                "igg_upper_with_recurrent_infections_mg_dl must be above igg_threshold_mg_dl"
            )
        return self


# --- the rules ------------------------------------------------------------------------------------

_IGG_FIELDS = ("rule", "igg_threshold_mg_dl")
_BAND_FIELDS = (
    "rule",
    "igg_threshold_mg_dl",
    "igg_upper_with_recurrent_infections_mg_dl",
    "recurrent_infections_count",
    "recurrent_infections_window_days",
)

NOT_ASSESSABLE = Rule(
    "IVIG-NOT-ASSESSABLE",
    "not_assessable",
    HILL_2019_TEXT,
    HILL_2019,
    "C",
    when=(Blank("igg_mg_dl"),),
    note="Missing is not normal: without an IgG result nothing is said about replacement.",
)

SCHEDULE = Rule(
    "IVIG-INTERVAL",
    "next_dose_due",
    "IVIG dose/interval [U]: commonly 0.4–0.5 g/kg every 3–4 weeks, titrated to trough IgG",
    "criteria.md 7.3",
    "U",
    requirement="next dose due {ivig_interval_days} days after the last; overdue from the next "
    "calendar day",
    policy_fields=("ivig_interval_days",),
)
TROUGH_TREND = Rule(
    "IVIG-TROUGH-TREND",
    "trough_trend",
    "titrated to trough IgG",
    "criteria.md 7.3",
    "U",
    requirement="the last two troughs (latest IgG within {trough_window_days} days before each "
    "dose): rising or falling by more than {trough_stable_within_mg_dl} mg/dL, else stable",
    policy_fields=("trough_window_days", "trough_stable_within_mg_dl"),
)
CD19_BCMA = Rule(
    "IVIG-CD19-BCMA",
    "product_note",
    "For CD19-BCMA products expect deeper/longer hypogammaglobulinaemia because plasma cells are "
    "also targeted",
    "criteria.md 7.1 (inference; BCMA CAR T cleared plasma cells in a 2025 Nat Med case, "
    "nature.com s41591-025-03718-3)",
    "U",
    requirement="the product targets BCMA as well as CD19",
)


def ivig_rules(policy: IgPolicy) -> tuple[Rule, ...]:
    """The rows of the policy's variant, in the order they are tried; exactly one decides."""
    low, high = policy.igg_threshold_mg_dl, policy.igg_upper_with_recurrent_infections_mg_dl
    at_or_below = Between("igg_mg_dl", None, low, "mg/dL")
    if policy.rule == "igg_only":
        return (
            NOT_ASSESSABLE,
            Rule(
                "IVIG-IGG-AT-OR-BELOW-THRESHOLD",
                "indicated",
                "consider IgRT if IgG ≤400 mg/dL",
                HILL_2019,
                "C",
                when=(at_or_below,),
                policy_fields=_IGG_FIELDS,
                note="Hill's wording is 'consider': the decision stays with the physician.",
            ),
            Rule(
                "IVIG-IGG-ABOVE-THRESHOLD",
                "not_indicated",
                HILL_2019_TEXT,
                HILL_2019,
                "C",
                when=(Between("igg_mg_dl", low, None, "mg/dL", low_inclusive=False),),
                policy_fields=_IGG_FIELDS,
                note="Hill also considers IgRT at IgG >600 mg/dL with impaired vaccine responses; "
                "vaccine responses are not recorded here.",
            ),
        )
    return (
        NOT_ASSESSABLE,
        Rule(
            "IVIG-IGG-AT-OR-BELOW-THRESHOLD-WITH-SERIOUS-INFECTION",
            "indicated",
            "IgG ≤400 mg/dL with serious/persistent/recurrent bacterial infections → replace",
            HILL_SEO_2020,
            "S",
            when=(at_or_below, Between("serious_infections_in_window", 1, None, "infections")),
            policy_fields=_BAND_FIELDS,
            note="Every serious infection counts: 'persistent' and 'bacterial' are not recorded "
            "separately (interpretation [U]).",
        ),
        Rule(
            "IVIG-IGG-BAND-WITH-RECURRENT-SERIOUS-INFECTIONS",
            "indicated",
            "IgG 400–600 with serious recurrent infections",
            HILL_2019,
            "C",
            when=(
                Between("igg_mg_dl", low, high, "mg/dL", low_inclusive=False),
                Between(
                    "serious_infections_in_window",
                    policy.recurrent_infections_count,
                    None,
                    "infections",
                ),
            ),
            policy_fields=_BAND_FIELDS,
            note="'Recurrent' = at least recurrent_infections_count serious infections within "
            "recurrent_infections_window_days: a policy choice [U].",
        ),
        Rule(
            "IVIG-INFECTION-CRITERIA-NOT-MET",
            "not_indicated",
            "ASBMT recommends against IgRT without recurrent infection regardless of IgG",
            ASBMT,
            "C",
            when=(Between("igg_mg_dl", None, None, "mg/dL"),),
            requirement="an IgG result, and neither infection row holds",
            policy_fields=_BAND_FIELDS,
        ),
    )


# --- results --------------------------------------------------------------------------------------


class IvigStatus(StrEnum):
    INDICATED = "indicated"
    NOT_INDICATED = "not_indicated"
    NOT_ASSESSABLE = "not_assessable"  # no IgG result: never read as "not indicated"


class IgGValue(_Frozen):
    """An IgG result as reported and in mg/dL, with the conversion remark."""

    collected_at: datetime
    study_day: int
    value: float
    unit: str
    igg_mg_dl: float
    remark: str | None


class Trough(_Frozen):
    """The latest IgG at or before an IVIG dose, inside the trough window."""

    dose_given_at: datetime
    collected_at: datetime
    igg_mg_dl: float


class IvigAssessment(_Frozen):
    """Whether IgG replacement is indicated at ``at``, the schedule and the trough trend."""

    patient_id: str
    product: Product
    at: datetime
    status: IvigStatus
    indicated: bool | None = Field(description="None when not assessable (no IgG result)")
    decision: Finding
    last_igg: IgGValue | None
    serious_infections_in_window: int
    serious_infection_onsets: tuple[datetime, ...]
    last_ivig: DrugAdministration | None
    next_ivig_due_at: datetime | None
    ivig_overdue: bool | None = Field(description="None when no IVIG has been given")
    days_overdue: int | None
    troughs: tuple[Trough, ...]
    trough_direction: TroughDirection | None
    findings: tuple[Finding, ...] = Field(description="the decision first, then the others")
    remarks: tuple[str, ...] = ()
    policy: IgPolicy

    @property
    def reason(self) -> str:
        return self.decision.message


# --- one patient ----------------------------------------------------------------------------------


def _same_patient(patient: Patient, kind: str, patient_id: str) -> None:
    if patient_id != patient.patient_id:
        raise ValueError(
            f"a {kind} of patient {patient_id!r} was passed for {patient.patient_id!r}"
        )


def _direction(change: float, policy: IgPolicy) -> TroughDirection:
    if change > policy.trough_stable_within_mg_dl:
        return "rising"
    if change < -policy.trough_stable_within_mg_dl:
        return "falling"
    return "stable"


def _decision_message(rule: Rule, record: dict[str, float | int | None], policy: IgPolicy) -> str:
    igg, infections = record["igg_mg_dl"], record["serious_infections_in_window"]
    window = policy.recurrent_infections_window_days
    if rule.concludes == "not_assessable":
        return "not assessable: no IgG result"
    verdict = "IVIG indicated" if rule.concludes == "indicated" else "IVIG not indicated"
    text = f"{verdict}: IgG {igg:g} mg/dL"
    if policy.rule == "igg_with_infections":
        text += f" with {infections} serious infection(s) in {window} days"
    return f"{text} [{rule.rule_id}]"


def assess_ivig(
    patient: Patient,
    labs: Iterable[LabResult],
    ivig_doses: Iterable[DrugAdministration],
    infections: Iterable[InfectionEvent],
    at: datetime,
    policy: IgPolicy | None = None,
) -> IvigAssessment:
    """Assess IgG replacement for ``patient`` as of ``at``.

    ``labs`` may hold any analytes (only IgG is read, in any known unit); ``ivig_doses`` any drugs
    (only IVIG is read). Records after ``at`` are not seen; a record of another patient is an error.
    """
    policy = policy or IgPolicy()
    igg: list[tuple[LabResult, float, str | None]] = []
    for lab in sorted(labs, key=lambda lab: lab.collected_at):
        _same_patient(patient, "lab result", lab.patient_id)
        if lab.analyte is Analyte.IGG and lab.collected_at <= at:
            converted = to_canonical(lab.analyte, lab.value, lab.unit)
            igg.append((lab, converted.value, converted.remark))
    doses: list[DrugAdministration] = []
    for dose in sorted(ivig_doses, key=lambda dose: dose.given_at):
        _same_patient(patient, "drug administration", dose.patient_id)
        if dose.drug is Drug.IVIG and dose.given_at <= at:
            doses.append(dose)
    window_start = at - timedelta(days=policy.recurrent_infections_window_days)
    onsets: list[datetime] = []
    for infection in sorted(infections, key=lambda infection: infection.onset_at):
        _same_patient(patient, "infection", infection.patient_id)
        if infection.serious and window_start <= infection.onset_at <= at:
            onsets.append(infection.onset_at)

    last_igg = None
    if igg:
        lab, value_mg_dl, remark = igg[-1]
        last_igg = IgGValue(
            collected_at=lab.collected_at,
            study_day=patient.study_day(lab.collected_at),
            value=lab.value,
            unit=lab.unit,
            igg_mg_dl=value_mg_dl,
            remark=remark,
        )
    record: dict[str, float | int | None] = {
        "igg_mg_dl": last_igg.igg_mg_dl if last_igg else None,
        "serious_infections_in_window": len(onsets),
    }
    rule = next(rule for rule in ivig_rules(policy) if rule.holds(record))
    status = IvigStatus(rule.concludes)
    decision = Finding.of(
        rule,
        policy,
        _decision_message(rule, record, policy),
        last_igg.collected_at if last_igg else None,
    )
    findings = [decision]
    remarks = [last_igg.remark] if last_igg and last_igg.remark else []

    last_dose = doses[-1] if doses else None
    due_at: datetime | None = None
    overdue: bool | None = None
    days_overdue: int | None = None
    if last_dose is not None:
        due_at = last_dose.given_at + timedelta(days=policy.ivig_interval_days)
        days_late = (at.date() - due_at.date()).days
        overdue, days_overdue = days_late > 0, max(days_late, 0)
        state = f"overdue by {days_late} day(s)" if overdue else "not overdue"
        findings.append(
            Finding.of(SCHEDULE, policy, f"next IVIG due {due_at:%Y-%m-%d}: {state}", due_at)
        )
        if status is IvigStatus.NOT_INDICATED:
            remarks.append("IVIG was given before: check whether replacement should continue")

    if last_igg and doses and doses[0].given_at <= last_igg.collected_at:
        remarks.append(
            "IVIG was given before the last IgG: the level includes infused IgG (the thresholds "
            "are for starting replacement; on replacement, follow the troughs)"
        )
    troughs: list[Trough] = []
    for dose in doses:
        earliest = dose.given_at - timedelta(days=policy.trough_window_days)
        before = [
            (lab, value) for lab, value, _ in igg if earliest <= lab.collected_at <= dose.given_at
        ]
        if before:
            lab, value_mg_dl = before[-1]
            troughs.append(
                Trough(
                    dose_given_at=dose.given_at,
                    collected_at=lab.collected_at,
                    igg_mg_dl=value_mg_dl,
                )
            )
    direction = (
        _direction(troughs[-1].igg_mg_dl - troughs[-2].igg_mg_dl, policy)
        if len(troughs) >= 2
        else None
    )
    if direction is not None:
        shown = ", ".join(f"{t.igg_mg_dl:g}" for t in troughs)
        findings.append(
            Finding.of(
                TROUGH_TREND,
                policy,
                f"trough IgG {direction} ({shown} mg/dL)",
                troughs[-1].collected_at,
            )
        )
    if patient.product is Product.CD19_BCMA_CAR_T:
        findings.append(
            Finding.of(
                CD19_BCMA,
                policy,
                "CD19-BCMA product: deeper and longer hypogammaglobulinaemia is expected "
                "(plasma cells are targeted too) [U: inference]",
            )
        )
    if last_igg and (at - last_igg.collected_at).days > policy.igg_stale_after_days:
        remarks.append(
            f"the last IgG is {(at - last_igg.collected_at).days} days old (IgG monthly for at "
            "least 3 months after CAR T, Hill & Seo [S])"
        )
    return IvigAssessment(
        patient_id=patient.patient_id,
        product=patient.product,
        at=at,
        status=status,
        indicated=None if status is IvigStatus.NOT_ASSESSABLE else status is IvigStatus.INDICATED,
        decision=decision,
        last_igg=last_igg,
        serious_infections_in_window=len(onsets),
        serious_infection_onsets=tuple(onsets),
        last_ivig=last_dose,
        next_ivig_due_at=due_at,
        ivig_overdue=overdue,
        days_overdue=days_overdue,
        troughs=tuple(troughs),
        trough_direction=direction,
        findings=tuple(findings),
        remarks=tuple(remarks),
        policy=policy,
    )


# --- the cohort, vectorised -----------------------------------------------------------------------


def ivig_summary(
    patients: pd.DataFrame,
    labs: pd.DataFrame,
    drugs: pd.DataFrame,
    infections: pd.DataFrame,
    at: datetime,
    policy: IgPolicy | None = None,
) -> pd.DataFrame:
    """One row per patient (in the order of ``patients``): the columns of :data:`SUMMARY_COLUMNS`.

    Vectorised (groupby, merge_asof, numpy); agrees with :func:`assess_ivig` on every patient.
    ``patients`` has ``patient_id``; ``labs`` ``patient_id, collected_at, analyte, value, unit``;
    ``drugs`` ``patient_id, given_at, drug``; ``infections`` ``patient_id, onset_at, serious``.
    Rows after ``at``, rows of patients not listed and lab rows without a value are ignored.
    """
    policy = policy or IgPolicy()
    require_columns(patients, "patients", ("patient_id",))
    require_columns(labs, "labs", ("patient_id", "collected_at", "analyte", "value", "unit"))
    require_columns(drugs, "drugs", ("patient_id", "given_at", "drug"))
    require_columns(infections, "infections", ("patient_id", "onset_at", "serious"))
    if patients["patient_id"].duplicated().any():
        raise ValueError("patients lists a patient_id twice")
    ids = pd.Index(patients["patient_id"])
    now = pd.Timestamp(at)

    # The last IgG at or before `at`, in mg/dL (rounded as grading.units.to_canonical rounds).
    keep = (
        (labs["analyte"].astype(str) == Analyte.IGG.value)
        & labs["patient_id"].isin(ids)
        & labs["value"].notna()
    )
    igg = labs.loc[keep, ["patient_id", "collected_at", "analyte", "value", "unit"]].copy()
    igg["analyte"] = Analyte.IGG.value
    igg["collected_at"] = as_datetimes(igg["collected_at"])
    igg = igg[igg["collected_at"] <= now]
    igg = labs_to_canonical(igg)
    igg["igg_mg_dl"] = np.round(igg["value_canonical"].to_numpy(dtype=float), 6)
    igg = igg.sort_values("collected_at", kind="stable")
    last = igg.drop_duplicates("patient_id", keep="last").set_index("patient_id")

    # Serious infections with onset in [at - window, at].
    onset = as_datetimes(infections["onset_at"])
    start = now - pd.Timedelta(days=policy.recurrent_infections_window_days)
    counted = (
        infections["patient_id"].isin(ids)
        & infections["serious"].astype(bool)
        & (onset >= start)
        & (onset <= now)
    )
    serious = infections.loc[counted, "patient_id"].value_counts()

    # IVIG doses at or before `at`.
    given_at = as_datetimes(drugs["given_at"])
    is_dose = (
        (drugs["drug"].astype(str) == Drug.IVIG.value)
        & drugs["patient_id"].isin(ids)
        & (given_at <= now)
    )
    doses = pd.DataFrame(
        {"patient_id": drugs.loc[is_dose, "patient_id"], "given_at": given_at[is_dose]}
    ).sort_values("given_at", kind="stable")
    last_dose = doses.groupby("patient_id")["given_at"].max()

    out = pd.DataFrame({"patient_id": ids})
    record = pd.DataFrame(
        {
            "igg_mg_dl": last["igg_mg_dl"].reindex(ids).to_numpy(dtype=float),
            "serious_infections_in_window": serious.reindex(ids, fill_value=0).to_numpy(),
        }
    )
    rules = ivig_rules(policy)
    which = np.select([rule.mask(record) for rule in rules], list(range(len(rules))), default=0)
    concludes = np.array([rule.concludes for rule in rules], dtype=object)[which]
    out["status"] = concludes
    out["indicated"] = pd.Series(concludes == "indicated", dtype="boolean").mask(
        concludes == "not_assessable"
    )
    out["rule_id"] = np.array([rule.rule_id for rule in rules], dtype=object)[which]
    out["last_igg_mg_dl"] = record["igg_mg_dl"]
    out["last_igg_at"] = last["collected_at"].reindex(ids).to_numpy()
    out["serious_infections_in_window"] = record["serious_infections_in_window"].astype(np.int64)
    last_ivig_at = last_dose.reindex(ids)
    due = last_ivig_at + pd.Timedelta(days=policy.ivig_interval_days)
    out["last_ivig_at"] = last_ivig_at.to_numpy()
    out["next_ivig_due_at"] = due.to_numpy()
    overdue = (now.normalize() > due.dt.normalize()).to_numpy()
    out["ivig_overdue"] = pd.Series(overdue, dtype="boolean").mask(due.isna().to_numpy())
    direction = _trough_direction(doses, igg, policy).reindex(ids)
    out["trough_direction"] = direction.astype(object).where(direction.notna(), None).to_numpy()
    return out[list(SUMMARY_COLUMNS)]


def _trough_direction(doses: pd.DataFrame, igg: pd.DataFrame, policy: IgPolicy) -> pd.Series:
    """Per patient: the direction of the last two troughs (None with fewer than two)."""
    if doses.empty or igg.empty:
        return pd.Series([], index=pd.Index([], name="patient_id"), dtype=object)
    right = igg[["patient_id", "collected_at", "igg_mg_dl"]].copy()
    right["patient_id"] = right["patient_id"].astype(doses["patient_id"].dtype)
    right["collected_at"] = right["collected_at"].astype(doses["given_at"].dtype)
    troughs = pd.merge_asof(
        doses,
        right,
        left_on="given_at",
        right_on="collected_at",
        by="patient_id",
        direction="backward",
        tolerance=pd.Timedelta(days=policy.trough_window_days),
        allow_exact_matches=True,
    ).dropna(subset=["igg_mg_dl"])
    troughs = troughs.sort_values("given_at", kind="stable")
    change = troughs["igg_mg_dl"] - troughs.groupby("patient_id")["igg_mg_dl"].shift(1)
    change = change.groupby(troughs["patient_id"]).last().dropna()  # NaN: one trough only
    tolerance = policy.trough_stable_within_mg_dl
    direction = np.select(
        [change > tolerance, change < -tolerance], ["rising", "falling"], default="stable"
    )
    return pd.Series(direction, index=change.index, dtype=object)
