"""Cytopenias after CAR T: CTCAE v5.0 grades per sample, ICAHT, and a "consider IEC-HS" screen.

Three rule tables, each beside its source: :mod:`grading.ctcae_v5_cytopenia` (CTCAE v5.0, [U]: not in
criteria.md), :mod:`grading.icaht_2023` (Rejeski 2023, [S]/[U], provisional) and :mod:`grading.iec_hs`
(Hines 2023 as recalled, [U] throughout). This module holds the site's choices
(:class:`CytopeniaPolicy`) and the functions that turn a patient's lab results into the fields those
tables read:

- :func:`grade_cytopenias`: one CTCAE grade per ANC, platelet and haemoglobin sample;
  :func:`ctcae_frame` does the same for a whole cohort with NumPy masks (no loop over rows);
- :func:`assess_icaht`: early (day 0-30) and late (after day 30) ICAHT from the daily ANC;
- :func:`screen_iec_hs`: positive / negative / not assessable at one instant.

Lab values are compared in canonical units (:mod:`grading.units`: ANC cells/uL, platelets 10^9/L,
haemoglobin g/dL, ferritin ng/mL, fibrinogen mg/dL, ALT/AST U/L), rounded to 6 decimals by both the
per-sample and the vectorised path so that they agree at every cut-point; a converted value leaves a
remark. Study day 0 is the calendar day of the infusion (:meth:`grading.records.Patient.study_day`).

Autoimmune caveat shown next to neutropenia (:data:`G_CSF_CAVEAT`, criteria.md 6.7 and 5): prophylactic
G-CSF is not recommended in autoimmune disease (flare risk).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from grading import ctcae_v5_cytopenia as ctcae
from grading import icaht_2023 as icaht
from grading import iec_hs
from grading.criteria import Criterion, Evidence, Record, evaluate_domain, evaluate_domain_frame
from grading.enums import Status
from grading.records import Analyte, LabResult, Patient, Sex
from grading.results import RuleHit
from grading.units import UNITS, fold, labs_to_canonical, to_canonical

#: Decimals kept after unit conversion, on both paths (grading.units.to_canonical rounds to 6;
#: grading.units.labs_to_canonical does not round, so ctcae_frame rounds its result).
DECIMALS = 6


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LabPatientMismatchError(ValueError):
    """Raised when a lab result given for one patient belongs to another patient."""

    def __init__(self, expected: str, found: str) -> None:
        self.expected, self.found = expected, found
        super().__init__(
            f"lab result of patient {found!r} passed for patient {expected!r}: pass only the "
            "patient's own results"
        )


# --------------------------------------------------------------------------------------------------
# Policy
# --------------------------------------------------------------------------------------------------


class CytopeniaPolicy(_Frozen):
    """What a site chooses for cytopenia grading: its lab's limits and how gaps in sampling count.

    Each field carries its unit, source, evidence tag and rationale (``json_schema_extra``), shown by
    :meth:`describe_fields`. Lower and upper limits of normal belong to the site's laboratory: set
    them from the lab's reference intervals.
    """

    name: str = Field("cartwatch default", min_length=1, description="Shown on every result.")
    anc_lln_cells_ul: float = Field(
        1800,
        ge=1000,
        le=3000,
        description="Lower limit of normal of the absolute neutrophil count: the top of CTCAE grade "
        "1. Sites should set their lab's LLN.",
        json_schema_extra={
            "unit": "cells/uL",
            "evidence": "policy",
            "source": "Typical adult reference interval (about 1800-2000 cells/uL) [U]",
            "rationale": "CTCAE grade 1 is '<LLN - 1500/mm3': the LLN is the lab's, not CTCAE's. "
            "Not 1500, which would leave grade 1 empty.",
        },
    )
    platelets_lln_10e9_l: float = Field(
        150,
        ge=100,
        le=200,
        description="Lower limit of normal of the platelet count: the top of CTCAE grade 1. Sites "
        "should set their lab's LLN.",
        json_schema_extra={
            "unit": "10^9/L",
            "evidence": "policy",
            "source": "Typical adult reference interval (150-400 x10^9/L) [U]",
            "rationale": "CTCAE grade 1 is '<LLN - 75.0 x 10e9 /L'.",
        },
    )
    hemoglobin_lln_female_g_dl: float = Field(
        12.0,
        ge=9,
        le=17,
        description="Lower limit of normal of haemoglobin for women: the top of CTCAE anemia grade "
        "1. Sites should set their lab's LLN.",
        json_schema_extra={
            "unit": "g/dL",
            "evidence": "policy",
            "source": "Typical adult female reference interval [U]",
            "rationale": "CTCAE anemia grade 1 is 'Hgb <LLN - 10.0 g/dL'; the LLN depends on sex.",
        },
    )
    hemoglobin_lln_male_g_dl: float = Field(
        13.5,
        ge=9,
        le=17,
        description="Lower limit of normal of haemoglobin for men. Sites should set their lab's LLN.",
        json_schema_extra={
            "unit": "g/dL",
            "evidence": "policy",
            "source": "Typical adult male reference interval [U]",
            "rationale": "CTCAE anemia grade 1 is 'Hgb <LLN - 10.0 g/dL'; the LLN depends on sex.",
        },
    )
    hemoglobin_lln_unknown_sex_g_dl: float = Field(
        12.0,
        ge=9,
        le=17,
        description="Haemoglobin LLN when sex is not recorded or is 'other'; the result says so.",
        json_schema_extra={
            "unit": "g/dL",
            "evidence": "policy",
            "source": "Engineering choice [U]",
            "rationale": "The lower of the two LLNs, so that grade 1 anemia is not called on a "
            "woman's normal value; a remark names the LLN used.",
        },
    )
    icaht_unsampled_days: Literal["not_counted", "bridged"] = Field(
        "not_counted",
        description="How a day of day 0-30 without an ANC counts toward the early ICAHT days "
        "at or below 500 and 100 cells/uL. 'not_counted': a day counts only if a sample that day is "
        "at or below the threshold. 'bridged': a day without a sample also counts when the nearest "
        "samples before and after it are both at or below the threshold.",
        json_schema_extra={
            "unit": "",
            "evidence": "policy",
            "source": "Not addressed in criteria.md section 5 (primary table not read) [U]",
            "rationale": "'not_counted' never invents a low day: the grade is a lower bound, and "
            "the result lists the days without a sample and the highest grade they could give.",
        },
    )
    icaht_late_min_days: int = Field(
        2,
        ge=2,
        le=7,
        description="Late ICAHT (after day 30) needs this many days with an ANC at or below a "
        "threshold before the threshold's grade is given (non-transient cytopenia).",
        json_schema_extra={
            "unit": "days",
            "evidence": "S",
            "source": "T-ICAHT paper: 'two or more laboratory tests or nontransient' [C for "
            "T-ICAHT; S for N-ICAHT], criteria.md section 5",
            "rationale": "One low count may be a lab error or a transient dip; measurements on the "
            "same day count once.",
        },
    )
    iec_hs_ferritin_uln_ng_ml: float = Field(
        400,
        gt=0,
        le=2000,
        description="Upper limit of normal of ferritin, for 'ferritin > 2 x ULN'. Sites should set "
        "their lab's ULN.",
        json_schema_extra={
            "unit": "ng/mL",
            "evidence": "U",
            "source": "Typical adult reference interval [U]; IEC-HS criterion recalled [U]",
            "rationale": "IEC-HS reads ferritin against the ULN; the ULN varies by lab and sex.",
        },
    )
    iec_hs_ferritin_rise_fold: float = Field(
        2.0,
        gt=1,
        le=10,
        description="'Rapidly rising' ferritin: a value at least this many times an earlier value "
        "collected within iec_hs_ferritin_rise_within_hours.",
        json_schema_extra={
            "unit": "fold",
            "evidence": "policy",
            "source": "'rapidly rising' is not defined in what was read (criteria.md section 4) [U]",
            "rationale": "Doubling is a simple, checkable reading of 'rapidly rising'.",
        },
    )
    iec_hs_ferritin_rise_within_hours: float = Field(
        48,
        gt=0,
        le=168,
        description="Time within which the ferritin rise must happen.",
        json_schema_extra={
            "unit": "h",
            "evidence": "policy",
            "source": "Engineering choice [U]",
            "rationale": "Daily ferritin in the first weeks [S: criteria.md 8.1] gives two or "
            "three values in 48 h.",
        },
    )
    iec_hs_alt_uln_u_l: float = Field(
        40,
        gt=0,
        le=200,
        description="Upper limit of normal of ALT, for 'ALT > 3 x ULN'. Sites should set their "
        "lab's ULN.",
        json_schema_extra={
            "unit": "U/L",
            "evidence": "U",
            "source": "Typical adult reference interval [U]",
            "rationale": "Transaminase elevation is read against the lab's ULN.",
        },
    )
    iec_hs_ast_uln_u_l: float = Field(
        40,
        gt=0,
        le=200,
        description="Upper limit of normal of AST, for 'AST > 3 x ULN'. Sites should set their "
        "lab's ULN.",
        json_schema_extra={
            "unit": "U/L",
            "evidence": "U",
            "source": "Typical adult reference interval [U]",
            "rationale": "Transaminase elevation is read against the lab's ULN.",
        },
    )
    iec_hs_lookback_hours: float = Field(
        72,
        gt=0,
        le=336,
        description="The IEC-HS screen at an instant reads the labs collected in this many hours "
        "up to and including that instant (the ferritin baseline and the previous sample of a "
        "count may be older).",
        json_schema_extra={
            "unit": "h",
            "evidence": "policy",
            "source": "Engineering choice [U]",
            "rationale": "Ferritin and its accompanying findings must be concurrent; three days "
            "covers daily labs with a missed day.",
        },
    )

    def hemoglobin_lln(self, sex: Sex | None) -> tuple[float, str | None]:
        """The haemoglobin LLN for a sex, and a remark when the sex did not decide it."""
        if sex is Sex.FEMALE:
            return self.hemoglobin_lln_female_g_dl, None
        if sex is Sex.MALE:
            return self.hemoglobin_lln_male_g_dl, None
        said = "not recorded" if sex is None else "recorded as other"
        return (
            self.hemoglobin_lln_unknown_sex_g_dl,
            f"sex {said}: haemoglobin LLN {self.hemoglobin_lln_unknown_sex_g_dl:g} g/dL (the "
            "policy's value for unknown sex) used for CTCAE anemia grade 1",
        )

    @classmethod
    def describe_fields(cls) -> list[dict[str, str]]:
        """One row per policy field: name, default, unit, evidence, source, rationale, description."""
        rows = []
        for name, info in cls.model_fields.items():
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            rows.append(
                {
                    "field": name,
                    "default": str(info.default),
                    "unit": str(extra.get("unit", "")),
                    "evidence": str(extra.get("evidence", "")),
                    "source": str(extra.get("source", "")),
                    "rationale": str(extra.get("rationale", "")),
                    "description": info.description or "",
                }
            )
        return rows


DEFAULT_POLICY = CytopeniaPolicy()


# --------------------------------------------------------------------------------------------------
# Autoimmune caveats (criteria.md 6.7 and 5)
# --------------------------------------------------------------------------------------------------


class Caveat(_Frozen):
    """A caution shown beside a result, with its source."""

    topic: str
    text: str
    source_text: str
    citation: str
    evidence: Evidence


_GRECO = (
    "Greco R, et al. EClinicalMedicine 2024;69:102476, Table 7 (PMC10867419); criteria.md 6.7 and 5"
)

#: Shown next to neutropenia in the UI.
G_CSF_CAVEAT = Caveat(
    topic="G-CSF in autoimmune disease",
    text="Prophylactic use of G-CSF is not recommended in autoimmune disease: G-CSF may induce a "
    "disease flare. For prolonged grade 3-4 neutropenia, therapeutic G-CSF should be considered "
    "on a risk/benefit evaluation.",
    source_text="Administration of G-CSF may induce disease flare in ADs. Prophylactic use of "
    "G-CSF is not recommended. [...] should be considered according to the risk/benefit "
    "evaluation",
    citation=_GRECO,
    evidence="C",
)
HLH_DIFFERENTIAL = Caveat(
    topic="HLH of the underlying autoimmune disease",
    text="Prolonged cytopenia: consider HLH related to the underlying autoimmune disease as a "
    "differential diagnosis.",
    source_text="HLH can be causally related to underlying ADs and should be considered as "
    "differential diagnosis in case of prolonged cytopenia",
    citation=_GRECO,
    evidence="C",
)
HEMATOTOX_NOT_VALIDATED = Caveat(
    topic="CAR-HEMATOTOX in autoimmune disease",
    text="The CAR-HEMATOTOX score is not validated in autoimmune disease; no prolonged "
    "haematotoxicity had been reported in the few patients treated so far.",
    source_text="The CAR-HEMATOTOX score is not validated in ADs. With only few patients reported "
    "so far, no prolonged hematotoxicity has occurred in AD.",
    citation=_GRECO,
    evidence="C",
)


# --------------------------------------------------------------------------------------------------
# Canonical samples
# --------------------------------------------------------------------------------------------------

#: Analyte -> (CTCAE domain, value field, below-LLN field).
CTCAE_FIELDS: dict[Analyte, tuple[str, str, str]] = {
    Analyte.ANC: (ctcae.NEUTROPHILS, ctcae.ANC, ctcae.ANC_BELOW_LLN),
    Analyte.PLATELETS: (ctcae.PLATELETS, ctcae.PLT, ctcae.PLT_BELOW_LLN),
    Analyte.HEMOGLOBIN: (ctcae.ANEMIA, ctcae.HB, ctcae.HB_BELOW_LLN),
}


@dataclass(frozen=True)
class _Sample:
    """One lab value in its canonical unit."""

    analyte: Analyte
    collected_at: datetime
    study_day: int
    value: float
    unit: str
    remark: str | None


def _samples(patient: Patient, labs: Iterable[LabResult], analytes: set[Analyte]) -> list[_Sample]:
    """The patient's results of these analytes, converted, in time order."""
    out = []
    for lab in labs:
        if lab.patient_id != patient.patient_id:
            raise LabPatientMismatchError(patient.patient_id, lab.patient_id)
        if lab.analyte not in analytes:
            continue
        converted = to_canonical(lab.analyte, lab.value, lab.unit)  # raises for an unknown unit
        # The same arithmetic as labs_to_canonical and ctcae_frame (value x factor, then
        # np.round), so that both paths agree at every cut-point.
        factor = UNITS[lab.analyte][1][fold(lab.unit)]
        out.append(
            _Sample(
                lab.analyte,
                lab.collected_at,
                patient.study_day(lab.collected_at),
                float(np.round(lab.value * factor, DECIMALS)),
                converted.unit,
                converted.remark,
            )
        )
    return sorted(out, key=lambda s: (s.collected_at, s.analyte.value))


def _hits(criteria: Sequence[Criterion]) -> tuple[RuleHit, ...]:
    return tuple(RuleHit.of(c) for c in criteria)


# --------------------------------------------------------------------------------------------------
# CTCAE v5.0 per sample
# --------------------------------------------------------------------------------------------------


class CytopeniaGrade(_Frozen):
    """The CTCAE v5.0 grade of one ANC, platelet or haemoglobin sample."""

    patient_id: str
    collected_at: datetime
    study_day: int
    analyte: Analyte
    term: str  # the CTCAE term, e.g. "Neutrophil count decreased"
    value: float  # in ``unit``, the canonical unit
    unit: str
    lln: float  # the lab's lower limit of normal used, in ``unit``
    grade: int
    status: Status  # graded (>= 1) or no toxicity (0); a recorded value is always gradable
    hits: tuple[RuleHit, ...]
    remarks: tuple[str, ...] = ()
    caveats: tuple[Caveat, ...] = ()
    instrument: str = ctcae.INSTRUMENT.name
    evidence: Evidence = "U"
    policy: str

    @property
    def reason(self) -> str:
        head = f"{self.term} grade {self.grade}" if self.grade else f"{self.term}: none (grade 0)"
        rules = ", ".join(hit.rule_id for hit in self.hits)
        return f"{head}: {self.value:g} {self.unit} (LLN {self.lln:g}) [{rules}] [U]"


def _lln(analyte: Analyte, sex: Sex | None, policy: CytopeniaPolicy) -> tuple[float, str | None]:
    if analyte is Analyte.ANC:
        return policy.anc_lln_cells_ul, None
    if analyte is Analyte.PLATELETS:
        return policy.platelets_lln_10e9_l, None
    return policy.hemoglobin_lln(sex)


def _ctcae_record(analyte: Analyte, value: float, lln: float) -> Record:
    _, field, below = CTCAE_FIELDS[analyte]
    return {field: value, below: value < lln}


def _grade_sample(
    patient: Patient, sample: _Sample, policy: CytopeniaPolicy
) -> tuple[int, Criterion, float, list[str]]:
    """Grade, the row that gave it, the LLN used and remarks, for one canonical sample."""
    domain = CTCAE_FIELDS[sample.analyte][0]
    lln, lln_remark = _lln(sample.analyte, patient.sex, policy)
    finding = evaluate_domain(
        ctcae.INSTRUMENT, domain, _ctcae_record(sample.analyte, sample.value, lln)
    )
    if finding.grade is None:  # the rows partition [0, inf): only a non-finite value gets here
        raise ValueError(f"{sample.analyte.value} value {sample.value!r} cannot be graded")
    remarks = [r for r in (sample.remark, lln_remark) if r]
    if finding.grade == 3 and sample.analyte is Analyte.HEMOGLOBIN:
        remarks.append(ctcae.ANEMIA_GRADE_4_TEXT)
    return finding.grade, finding.hits[0], lln, remarks


def grade_cytopenias(
    patient: Patient, labs: Iterable[LabResult], policy: CytopeniaPolicy = DEFAULT_POLICY
) -> list[CytopeniaGrade]:
    """CTCAE v5.0 grade of every ANC, platelet and haemoglobin result of ``patient``, in time order.

    Other analytes are skipped. Raises :class:`LabPatientMismatchError` for another patient's result
    and :class:`grading.units.UnknownUnitError` for an unknown unit.
    """
    out = []
    for sample in _samples(patient, labs, set(CTCAE_FIELDS)):
        grade, row, lln, remarks = _grade_sample(patient, sample, policy)
        neutropenia = sample.analyte is Analyte.ANC and grade >= 1
        out.append(
            CytopeniaGrade(
                patient_id=patient.patient_id,
                collected_at=sample.collected_at,
                study_day=sample.study_day,
                analyte=sample.analyte,
                term=ctcae.TERMS[CTCAE_FIELDS[sample.analyte][0]],
                value=sample.value,
                unit=sample.unit,
                lln=lln,
                grade=grade,
                status=Status.GRADED if grade else Status.NO_TOXICITY,
                hits=(RuleHit.of(row),),
                remarks=tuple(remarks),
                caveats=(G_CSF_CAVEAT,) if neutropenia else (),
                policy=policy.name,
            )
        )
    return out


_FEMALE, _MALE, _OTHER, _UNKNOWN = 0, 1, 2, 3

#: Columns :func:`ctcae_frame` adds.
CTCAE_COLUMNS = ("ctcae_term", "ctcae_grade", "ctcae_rule", "ctcae_lln", "ctcae_remark")


def ctcae_frame(
    labs: pd.DataFrame,
    sex_by_patient: Mapping[str, Sex | None],
    policy: CytopeniaPolicy = DEFAULT_POLICY,
) -> pd.DataFrame:
    """Vectorised :func:`grade_cytopenias` for a cohort: one pass of NumPy masks, no loop over rows.

    ``labs`` has columns ``patient_id``, ``analyte``, ``value`` and ``unit`` (others are kept). The
    result keeps the index and adds ``value_canonical`` and ``unit_canonical`` (rounded to 6
    decimals, as the per-sample path) and :data:`CTCAE_COLUMNS`: the CTCAE term, grade (nullable
    Int8), rule id, LLN used, and a remark when the haemoglobin LLN did not come from a recorded sex.
    Rows of other analytes get blanks. A patient missing from ``sex_by_patient`` has unknown sex.
    """
    out = labs_to_canonical(labs)
    value = np.round(out["value_canonical"].to_numpy(dtype=float), DECIMALS)
    out["value_canonical"] = value
    analyte = out["analyte"].astype(str).to_numpy()
    is_anc = analyte == Analyte.ANC.value
    is_plt = analyte == Analyte.PLATELETS.value
    is_hb = analyte == Analyte.HEMOGLOBIN.value

    # Sex as a small code per row, by one hash lookup per row (Series.map with a Series).
    codes = {Sex.FEMALE: _FEMALE, Sex.MALE: _MALE, Sex.OTHER: _OTHER}
    sex_code = pd.Series(
        {
            pid: codes[Sex(sex)] if sex is not None else _UNKNOWN
            for pid, sex in sex_by_patient.items()
        },
        dtype=np.int8,
    )
    sex = (
        out["patient_id"].map(sex_code).fillna(_UNKNOWN).to_numpy(dtype=np.int8)
        if len(sex_code)
        else np.full(len(out), _UNKNOWN, dtype=np.int8)
    )
    female = sex == _FEMALE
    male = sex == _MALE
    hb_lln = np.select(
        [female, male],
        [policy.hemoglobin_lln_female_g_dl, policy.hemoglobin_lln_male_g_dl],
        policy.hemoglobin_lln_unknown_sex_g_dl,
    )
    lln = np.select(
        [is_anc, is_plt, is_hb],
        [policy.anc_lln_cells_ul, policy.platelets_lln_10e9_l, hb_lln],
        np.nan,
    )
    with np.errstate(invalid="ignore"):
        below = value < lln

    work = pd.DataFrame(index=out.index)
    grade = np.full(len(out), -1, dtype=np.int8)
    which = np.full(len(out), -1, dtype=np.int16)
    term = np.full(len(out), None, dtype=object)
    for rows, analyte_key in (
        (is_anc, Analyte.ANC),
        (is_plt, Analyte.PLATELETS),
        (is_hb, Analyte.HEMOGLOBIN),
    ):
        domain, field, below_field = CTCAE_FIELDS[analyte_key]
        work[field] = np.where(rows, value, np.nan)
        work[below_field] = rows & below
        domain_grade, domain_which = evaluate_domain_frame(ctcae.INSTRUMENT, domain, work)
        grade = np.where(rows, domain_grade, grade).astype(np.int8)
        which = np.where(rows, domain_which, which).astype(np.int16)
        term[rows] = ctcae.TERMS[domain]

    rule_ids = np.array([c.rule_id for c in ctcae.INSTRUMENT.criteria] + [None], dtype=object)
    unknown_sex = is_hb & ~female & ~male
    remark = np.full(len(out), None, dtype=object)
    for said, rows in (
        ("not recorded", unknown_sex & (sex == _UNKNOWN)),
        ("recorded as other", unknown_sex & (sex == _OTHER)),
    ):
        remark[rows] = (
            f"sex {said}: haemoglobin LLN {policy.hemoglobin_lln_unknown_sex_g_dl:g} g/dL (the "
            "policy's value for unknown sex) used for CTCAE anemia grade 1"
        )
    out["ctcae_term"] = term
    out["ctcae_grade"] = pd.arrays.IntegerArray(np.where(grade >= 0, grade, 0), mask=grade < 0)
    out["ctcae_rule"] = rule_ids[which]
    out["ctcae_lln"] = lln
    out["ctcae_remark"] = remark
    return out


# --------------------------------------------------------------------------------------------------
# ICAHT (Rejeski 2023), provisional
# --------------------------------------------------------------------------------------------------


class DailyAnc(_Frozen):
    """The lowest ANC of one study day."""

    study_day: int
    collected_at: datetime
    anc_cells_ul: float


class EarlyIcaht(_Frozen):
    """Early ICAHT (day 0-30) from the cumulative days with ANC at or below 500 and 100 cells/uL.

    ``grade`` is the grade of the days counted under the policy: a lower bound when some days had no
    sample. ``maximum_grade`` is the grade had every day without a sample been at or below 100
    cells/uL; the two are equal when the grade is exact. ``status`` is "no toxicity" only when grade
    0 is exact, and "not gradable" when no ANC of day 0-30 was available or when grade 0 could still
    be higher.
    """

    grade: int | None
    maximum_grade: int | None
    status: Status
    days_anc_le_500: int
    days_anc_le_100: int
    anc_never_above_500: bool
    days_sampled: int
    days_without_sample: tuple[int, ...]  # study days reached with no ANC (bridged ones included)
    days_not_yet_reached: tuple[int, ...]  # study days after ``as_of``
    days_bridged: tuple[int, ...]  # days without a sample counted at or below 500 (policy)
    hits: tuple[RuleHit, ...]
    missing: tuple[str, ...] = ()
    remarks: tuple[str, ...] = ()

    @property
    def is_lower_bound(self) -> bool:
        return self.grade is not None and self.maximum_grade != self.grade

    @property
    def reason(self) -> str:
        if self.grade is None:
            return f"early ICAHT not gradable: {'; '.join(self.missing)}"
        head = f"early ICAHT grade {self.grade}"
        if self.is_lower_bound:
            head += f" (lower bound: could be up to grade {self.maximum_grade})"
        rules = ", ".join(hit.rule_id for hit in self.hits)
        return (
            f"{head}: {self.days_anc_le_500} day(s) with ANC ≤500 and {self.days_anc_le_100} "
            f"≤100 cells/uL counted in day 0-30 [{rules}]; {icaht.PROVISIONAL}"
        )


class LateIcaht(_Frozen):
    """Late ICAHT (after day 30) from the non-transient ANC nadir: the ``icaht_late_min_days``-th
    lowest daily ANC, so that a grade needs that many days at or below its threshold."""

    grade: int | None
    status: Status
    nontransient_nadir_cells_ul: float | None
    days_measured: int
    low_days: tuple[DailyAnc, ...]  # the lowest days that set the grade, lowest first
    hits: tuple[RuleHit, ...]
    missing: tuple[str, ...] = ()
    remarks: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        if self.grade is None:
            return f"late ICAHT not gradable: {'; '.join(self.missing)}"
        rules = ", ".join(hit.rule_id for hit in self.hits)
        nadir = self.nontransient_nadir_cells_ul
        return (
            f"late ICAHT grade {self.grade}: non-transient ANC nadir {nadir:g} cells/uL after day "
            f"30 [{rules}]; {icaht.PROVISIONAL}"
        )


class IcahtAssessment(_Frozen):
    """Early and late ICAHT of one patient, provisional (criteria.md section 5)."""

    patient_id: str
    as_of: datetime | None
    instrument: str = icaht.INSTRUMENT.name
    provisional: str = icaht.PROVISIONAL
    early: EarlyIcaht
    late: LateIcaht
    caveats: tuple[Caveat, ...]
    policy: str


def _daily_lowest(samples: Iterable[_Sample]) -> dict[int, _Sample]:
    lowest: dict[int, _Sample] = {}
    for sample in samples:
        kept = lowest.get(sample.study_day)
        if kept is None or sample.value < kept.value:
            lowest[sample.study_day] = sample
    return lowest


def _days_text(days: Sequence[int]) -> str:
    """Study days as ranges: [1, 2, 3, 7] -> '1-3, 7'."""
    runs: list[list[int]] = []
    for day in sorted(days):
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def _early_icaht(
    daily: dict[int, _Sample], last_day_reached: int, policy: CytopeniaPolicy
) -> EarlyIcaht:
    window = range(icaht.EARLY_FIRST_DAY, icaht.EARLY_LAST_DAY + 1)
    reached = [d for d in window if d <= last_day_reached]
    not_reached = tuple(d for d in window if d > last_day_reached)
    sampled = [d for d in reached if d in daily]
    without = tuple(d for d in reached if d not in daily)
    counted: dict[float, set[int]] = {}
    for threshold in icaht.EARLY_THRESHOLDS:
        days = {d for d in sampled if daily[d].value <= threshold}
        if policy.icaht_unsampled_days == "bridged":
            for d in without:
                before = max((k for k in daily if k < d), default=None)
                after = min((k for k in daily if k > d), default=None)
                if (
                    before is not None
                    and after is not None
                    and daily[before].value <= threshold
                    and daily[after].value <= threshold
                ):
                    days.add(d)
        counted[threshold] = days
    le_500, le_100 = (counted[t] for t in icaht.EARLY_THRESHOLDS)
    lower: Record = {
        icaht.DAYS_LE_500: len(le_500),
        icaht.DAYS_LE_100: len(le_100),
        icaht.NEVER_ABOVE_500: len(le_500) == len(window),
    }
    # The most the unknown days could add: every day not sampled at or below 100 cells/uL.
    upper: Record = {
        icaht.DAYS_LE_500: len(window) - sum(daily[d].value > 500 for d in sampled),
        icaht.DAYS_LE_100: len(window) - sum(daily[d].value > 100 for d in sampled),
        icaht.NEVER_ABOVE_500: all(daily[d].value <= 500 for d in sampled),
    }
    maximum = evaluate_domain(icaht.INSTRUMENT, icaht.EARLY, upper).grade
    bridged = tuple(sorted(le_500 - set(sampled)))

    def result(
        grade: int | None,
        status: Status,
        hits: tuple[RuleHit, ...],
        missing: tuple[str, ...],
        remarks: tuple[str, ...],
    ) -> EarlyIcaht:
        return EarlyIcaht(
            grade=grade,
            maximum_grade=maximum,
            status=status,
            days_anc_le_500=len(le_500),
            days_anc_le_100=len(le_100),
            anc_never_above_500=bool(lower[icaht.NEVER_ABOVE_500]),
            days_sampled=len(sampled),
            days_without_sample=without,
            days_not_yet_reached=not_reached,
            days_bridged=bridged,
            hits=hits,
            missing=missing,
            remarks=remarks,
        )

    if not sampled and not bridged:
        reason = "early window (day 0-30) not yet started" if not reached else "no ANC in day 0-30"
        return result(None, Status.NOT_GRADABLE, (), (reason,), ())
    finding = evaluate_domain(icaht.INSTRUMENT, icaht.EARLY, lower)
    assert finding.grade is not None  # the early rows cover every count 0-31
    grade = finding.grade
    remarks = []
    if without and policy.icaht_unsampled_days == "bridged":
        remarks.append(
            f"{len(without)} day(s) of day 0-30 without an ANC sample (day {_days_text(without)}): "
            f"counted only where bridged between two low samples (policy "
            f"icaht_unsampled_days=bridged, bridged: day {_days_text(bridged) or 'none'}); with "
            f"every such day at or below 100 cells/uL it would be grade {maximum}"
        )
    elif without:
        remarks.append(
            f"{len(without)} day(s) of day 0-30 without an ANC sample (day {_days_text(without)}): "
            f"not counted, so grade {grade} is a lower bound; with every such day at or below 100 "
            f"cells/uL it would be grade {maximum}"
        )
    if not_reached:
        remarks.append(
            f"early window ongoing: day {_days_text(not_reached)} not yet reached; the grade can "
            "still rise"
        )
    if grade >= 1:
        status = Status.GRADED
    elif maximum == 0:
        status = Status.NO_TOXICITY
    else:
        status = Status.NOT_GRADABLE
    unknown = (*without, *not_reached)
    missing = (f"ANC on day {_days_text(unknown)}",) if status is Status.NOT_GRADABLE else ()
    return result(grade, status, _hits(finding.hits), missing, tuple(remarks))


def _late_icaht(daily: dict[int, _Sample], policy: CytopeniaPolicy) -> LateIcaht:
    k = policy.icaht_late_min_days
    late = sorted(
        (s for day, s in daily.items() if day > icaht.EARLY_LAST_DAY),
        key=lambda s: (s.value, s.study_day),
    )
    days = tuple(
        DailyAnc(study_day=s.study_day, collected_at=s.collected_at, anc_cells_ul=s.value)
        for s in late
    )
    if len(late) < k:
        measured: tuple[str, ...] = ()
        if late:
            measured = (
                f"{len(late)} day(s) measured after day 30 (lowest ANC {late[0].value:g} cells/uL "
                f"on day {late[0].study_day}): late ICAHT needs ANC on {k} days",
            )
        return LateIcaht(
            grade=None,
            status=Status.NOT_GRADABLE,
            nontransient_nadir_cells_ul=None,
            days_measured=len(late),
            low_days=days,
            hits=(),
            missing=(f"ANC on at least {k} days after day 30",),
            remarks=measured,
        )
    nadir = late[k - 1].value
    finding = evaluate_domain(icaht.INSTRUMENT, icaht.LATE, {icaht.LATE_NADIR: nadir})
    assert finding.grade is not None  # the late rows cover every nadir
    remarks: list[str] = []
    lowest = late[0]
    alone = evaluate_domain(icaht.INSTRUMENT, icaht.LATE, {icaht.LATE_NADIR: lowest.value}).grade
    if alone is not None and alone > finding.grade:
        remarks.append(
            f"lowest ANC {lowest.value:g} cells/uL on day {lowest.study_day} alone would be grade "
            f"{alone}: seen on fewer than {k} days (transient), not graded; repeat the count"
        )
    return LateIcaht(
        grade=finding.grade,
        status=Status.GRADED if finding.grade else Status.NO_TOXICITY,
        nontransient_nadir_cells_ul=nadir,
        days_measured=len(late),
        low_days=days[:k],
        hits=_hits(finding.hits),
        remarks=tuple(remarks),
    )


def assess_icaht(
    patient: Patient,
    labs: Iterable[LabResult],
    policy: CytopeniaPolicy = DEFAULT_POLICY,
    *,
    as_of: datetime | None = None,
) -> IcahtAssessment:
    """Early and late ICAHT from the patient's ANC (provisional: criteria.md section 5).

    A day's ANC is its lowest sample. ``as_of`` ignores later samples and reports the days of day
    0-30 after it as not yet reached; without it, every day of day 0-30 counts as reached.
    """
    samples = [
        s
        for s in _samples(patient, labs, {Analyte.ANC})
        if as_of is None or s.collected_at <= as_of
    ]
    daily = _daily_lowest(samples)
    last_day = icaht.EARLY_LAST_DAY if as_of is None else patient.study_day(as_of)
    early = _early_icaht(daily, last_day, policy)
    late = _late_icaht(daily, policy)
    conversions = tuple(dict.fromkeys(s.remark for s in samples if s.remark))
    if conversions:
        early = early.model_copy(update={"remarks": (*early.remarks, *conversions)})
    prolonged = (late.grade or 0) >= 1 or (early.grade or 0) >= 3
    return IcahtAssessment(
        patient_id=patient.patient_id,
        as_of=as_of,
        early=early,
        late=late,
        caveats=(G_CSF_CAVEAT, HLH_DIFFERENTIAL) if prolonged else (G_CSF_CAVEAT,),
        policy=policy.name,
    )


# --------------------------------------------------------------------------------------------------
# Consider IEC-HS (Hines 2023 as recalled), UNCONFIRMED
# --------------------------------------------------------------------------------------------------


class ScreenStatus(StrEnum):
    """Outcome of the IEC-HS screen."""

    POSITIVE = "positive"  # ferritin criterion and at least one accompanying finding
    NEGATIVE = "negative"  # not met on the labs available (``missing`` lists what was not)
    NOT_ASSESSABLE = "not_assessable"  # no ferritin, or ferritin met with labs missing


class IecHsFinding(_Frozen):
    """A row of the screen that fired on one sample, with its value and time."""

    component: str  # ferritin, cytopenia, coagulopathy or transaminases
    rule: RuleHit
    analyte: Analyte
    value: float
    unit: str
    collected_at: datetime
    study_day: int
    detail: str


class IecHsScreen(_Frozen):
    """The consider-IEC-HS screen at one instant. UNCONFIRMED criteria [U] throughout."""

    patient_id: str
    at: datetime
    study_day: int
    status: ScreenStatus
    ferritin_criterion_met: bool | None  # None: no ferritin in the window
    components_met: tuple[str, ...]  # accompanying components met
    findings: tuple[IecHsFinding, ...]
    missing: tuple[str, ...]
    remarks: tuple[str, ...] = ()
    message: str  # iec_hs.CONSIDER when positive, otherwise empty
    caveat: str = iec_hs.CAVEAT
    timing: str = iec_hs.TIMING
    window_hours: float
    instrument: str = iec_hs.INSTRUMENT.name
    evidence: Evidence = "U"
    policy: str

    @property
    def reason(self) -> str:
        rules = ", ".join(dict.fromkeys(f.rule.rule_id for f in self.findings))
        fired = f" [{rules}]" if rules else ""
        missing = f"; not assessed: {', '.join(self.missing)}" if self.missing else ""
        if self.status is ScreenStatus.POSITIVE:
            head = f"{self.message}: ferritin with {', '.join(self.components_met)}"
        elif self.status is ScreenStatus.NOT_ASSESSABLE:
            head = "IEC-HS screen not assessable"
        else:
            head = "IEC-HS screen negative on the labs available"
        return f"{head}{fired}{missing} [U]"


_IEC_HS_ANALYTES = {
    Analyte.FERRITIN,
    Analyte.ANC,
    Analyte.PLATELETS,
    Analyte.HEMOGLOBIN,
    Analyte.FIBRINOGEN,
    Analyte.ALT,
    Analyte.AST,
}
#: Accompanying component -> analytes that assess it (the screen lists each one missing).
_COMPONENT_ANALYTES = {
    iec_hs.CYTOPENIA: (Analyte.ANC, Analyte.PLATELETS, Analyte.HEMOGLOBIN),
    iec_hs.COAGULOPATHY: (Analyte.FIBRINOGEN,),
    iec_hs.TRANSAMINASES: (Analyte.ALT, Analyte.AST),
}


@dataclass
class _Screen:
    """Findings collected while screening one patient at one instant."""

    patient: Patient
    findings: list[IecHsFinding]
    remarks: list[str]

    def check(self, domain: str, sample: _Sample, record: Record, details: dict[str, str]) -> None:
        for row in iec_hs.INSTRUMENT.rows(domain):
            if row.holds(record):
                self.findings.append(
                    IecHsFinding(
                        component=domain,
                        rule=RuleHit.of(row),
                        analyte=sample.analyte,
                        value=sample.value,
                        unit=sample.unit,
                        collected_at=sample.collected_at,
                        study_day=sample.study_day,
                        detail=details.get(row.rule_id, ""),
                    )
                )


def _baseline(series: Sequence[_Sample], infusion_at: datetime) -> _Sample | None:
    before = [s for s in series if s.collected_at < infusion_at]
    return before[-1] if before else None


def _ferritin(
    screen: _Screen,
    series: Sequence[_Sample],
    window: Sequence[_Sample],
    policy: CytopeniaPolicy,
) -> list[str]:
    """Check each ferritin of the window; returns the ferritin sub-criteria that were not assessed."""
    patient = screen.patient
    uln = policy.iec_hs_ferritin_uln_ng_ml
    base = _baseline(series, patient.infusion_at)
    rise_window = timedelta(hours=policy.iec_hs_ferritin_rise_within_hours)
    baseline_used = rising_assessed = False
    for s in window:
        record: dict[str, object] = {iec_hs.FERRITIN_X_ULN: s.value / uln}
        details = {
            "IECHS-FERRITIN-ULN": f"ferritin {s.value:g} ng/mL = {s.value / uln:.4g} x ULN "
            f"({uln:g} ng/mL)"
        }
        if base is not None and base.value > 0 and s.collected_at > patient.infusion_at:
            baseline_used = True
            record[iec_hs.FERRITIN_X_BASELINE] = s.value / base.value
            details["IECHS-FERRITIN-BASELINE"] = (
                f"ferritin {s.value:g} ng/mL = {s.value / base.value:.4g} x baseline "
                f"{base.value:g} ng/mL (day {base.study_day}, last before infusion)"
            )
        earlier = [
            e
            for e in series
            if e.collected_at < s.collected_at
            and s.collected_at - e.collected_at <= rise_window
            and e.value > 0
        ]
        if earlier:
            rising_assessed = True
            start = min(earlier, key=lambda e: e.value)
            fold = s.value / start.value
            hours = (s.collected_at - start.collected_at).total_seconds() / 3600
            record[iec_hs.FERRITIN_RISING] = fold >= policy.iec_hs_ferritin_rise_fold
            details["IECHS-FERRITIN-RISING"] = (
                f"ferritin {start.value:g} -> {s.value:g} ng/mL ({fold:.3g}-fold) in {hours:g} h "
                f"(policy: x{policy.iec_hs_ferritin_rise_fold:g} within "
                f"{policy.iec_hs_ferritin_rise_within_hours:g} h)"
            )
        screen.check(iec_hs.FERRITIN, s, record, details)
    not_assessed = []
    if not baseline_used:
        not_assessed.append("ferritin x baseline (no ferritin before the infusion)")
    if not rising_assessed:
        not_assessed.append(
            f"ferritin rise (no two ferritin values within "
            f"{policy.iec_hs_ferritin_rise_within_hours:g} h)"
        )
    return not_assessed


_NEW_CYTOPENIA = {
    Analyte.ANC: (iec_hs.ANC, iec_hs.ANC_NEW, iec_hs.NEW_ANC_BELOW_CELLS_UL),
    Analyte.PLATELETS: (iec_hs.PLT, iec_hs.PLT_NEW, iec_hs.NEW_PLATELETS_BELOW_10E9_L),
}


def _cytopenia(
    screen: _Screen,
    analyte: Analyte,
    series: Sequence[_Sample],
    in_window: set[int],
    policy: CytopeniaPolicy,
) -> None:
    """Check each count of the window: new below the cut-off after infusion, or CTCAE grade rising."""
    patient = screen.patient
    base = _baseline(series, patient.infusion_at)
    grades = [_grade_sample(patient, s, policy)[0] for s in series]
    term = ctcae.TERMS[CTCAE_FIELDS[analyte][0]]
    for i, s in enumerate(series):
        if i not in in_window:
            continue
        record: dict[str, object] = {}
        details: dict[str, str] = {}
        if i > 0:
            record[iec_hs.CTCAE_RISING] = grades[i] > grades[i - 1]
            previous = series[i - 1]
            details["IECHS-CYTOPENIA-WORSENING"] = (
                f"{term} CTCAE grade {grades[i]} ({s.value:g} {s.unit}), previous grade "
                f"{grades[i - 1]} ({previous.value:g} {s.unit}, day {previous.study_day})"
            )
        if analyte in _NEW_CYTOPENIA:
            field, new_field, cut = _NEW_CYTOPENIA[analyte]
            after = s.collected_at > patient.infusion_at
            record[field] = s.value
            record[new_field] = after and (base is None or base.value >= cut)
            rule = "IECHS-CYTOPENIA-ANC" if analyte is Analyte.ANC else "IECHS-CYTOPENIA-PLT"
            before = (
                f"last before infusion {base.value:g} {s.unit} (day {base.study_day})"
                if base is not None
                else "no value before the infusion: counted as new"
            )
            details[rule] = (
                f"{analyte.value} {s.value:g} {s.unit} < {cut:g} after infusion; {before}"
            )
            if base is None and after and s.value < cut:
                screen.remarks.append(
                    f"no {analyte.value} before the infusion: {analyte.value} below {cut:g} "
                    f"{s.unit} after it is counted as a new cytopenia"
                )
        screen.check(iec_hs.CYTOPENIA, s, record, details)


def screen_iec_hs(
    patient: Patient,
    labs: Iterable[LabResult],
    policy: CytopeniaPolicy = DEFAULT_POLICY,
    at: datetime | None = None,
) -> IecHsScreen:
    """Screen for IEC-HS at ``at`` (default: the last lab result) on the labs of the look-back window.

    Positive: the ferritin criterion and at least one accompanying finding in the window. Not
    assessable: no ferritin in the window, or the ferritin criterion met with no accompanying
    finding and an accompanying component not measured. Negative otherwise, with what was not
    assessed listed. Labs after ``at`` are ignored. Criteria UNCONFIRMED [U] (criteria.md section 4).
    """
    all_samples = _samples(patient, labs, _IEC_HS_ANALYTES)
    if at is None:
        at = all_samples[-1].collected_at if all_samples else patient.infusion_at
    samples = [s for s in all_samples if s.collected_at <= at]
    start = at - timedelta(hours=policy.iec_hs_lookback_hours)
    series: dict[Analyte, list[_Sample]] = defaultdict(list)
    for s in samples:
        series[s.analyte].append(s)
    window = {a: [s for s in ss if s.collected_at > start] for a, ss in series.items()}
    screen = _Screen(patient, [], [])
    hours = f"{policy.iec_hs_lookback_hours:g} h"

    missing: list[str] = []
    ferritin_window = window.get(Analyte.FERRITIN, [])
    not_assessed = _ferritin(screen, series[Analyte.FERRITIN], ferritin_window, policy)
    for analyte in (Analyte.ANC, Analyte.PLATELETS, Analyte.HEMOGLOBIN):
        chosen = {i for i, s in enumerate(series[analyte]) if s.collected_at > start}
        _cytopenia(screen, analyte, series[analyte], chosen, policy)
    for s in window.get(Analyte.FIBRINOGEN, []):
        screen.check(
            iec_hs.COAGULOPATHY,
            s,
            {iec_hs.FIBRINOGEN: s.value},
            {"IECHS-FIBRINOGEN": f"fibrinogen {s.value:g} mg/dL < 150 mg/dL"},
        )
    for analyte, field, rule, uln in (
        (Analyte.ALT, iec_hs.ALT_X_ULN, "IECHS-ALT", policy.iec_hs_alt_uln_u_l),
        (Analyte.AST, iec_hs.AST_X_ULN, "IECHS-AST", policy.iec_hs_ast_uln_u_l),
    ):
        for s in window.get(analyte, []):
            screen.check(
                iec_hs.TRANSAMINASES,
                s,
                {field: s.value / uln},
                {
                    rule: f"{analyte.value.upper()} {s.value:g} U/L = {s.value / uln:.4g} x ULN {uln:g}"
                },
            )

    fired = {f.component for f in screen.findings}
    ferritin_met = iec_hs.FERRITIN in fired if ferritin_window else None
    met = tuple(c for c in iec_hs.ACCOMPANYING if c in fired)
    measured = {
        c for c, analytes in _COMPONENT_ANALYTES.items() if any(window.get(a) for a in analytes)
    }
    if not ferritin_window:
        missing.append(f"ferritin (none in the {hours} window)")
    elif not ferritin_met:
        missing += not_assessed
    for analyte in (Analyte.ANC, Analyte.PLATELETS, Analyte.FIBRINOGEN, Analyte.ALT, Analyte.AST):
        if not window.get(analyte):
            missing.append(f"{analyte.value} (none in the {hours} window)")

    if ferritin_met is None:
        status = ScreenStatus.NOT_ASSESSABLE
    elif ferritin_met and met:
        status = ScreenStatus.POSITIVE
    elif ferritin_met and len(measured) < len(iec_hs.ACCOMPANYING):
        status = ScreenStatus.NOT_ASSESSABLE
    else:
        status = ScreenStatus.NEGATIVE
    conversions = [s.remark for ss in window.values() for s in ss if s.remark]
    return IecHsScreen(
        patient_id=patient.patient_id,
        at=at,
        study_day=patient.study_day(at),
        status=status,
        ferritin_criterion_met=ferritin_met,
        components_met=met,
        findings=tuple(screen.findings),
        missing=tuple(missing),
        remarks=tuple(dict.fromkeys([*screen.remarks, *conversions])),
        message=iec_hs.CONSIDER if status is ScreenStatus.POSITIVE else "",
        window_hours=policy.iec_hs_lookback_hours,
        policy=policy.name,
    )
