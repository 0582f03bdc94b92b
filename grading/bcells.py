"""B-cell aplasia after CAR T: each CD19 sample classified, aplasia onset, confirmed recovery, and
depletion after a product that is not meant to deplete B cells (criteria.md 7.1, 7.4, 10.4).

No single consensus threshold exists (criteria.md 7.1), so every threshold is a field of
:class:`BCellPolicy` and every conclusion names its rule, the source's wording, the evidence tag and
the policy values it used.

| Conclusion            | Default rule                                                       | Tag |
|-----------------------|--------------------------------------------------------------------|-----|
| aplastic sample       | CD19+ < 1 % of lymphocytes (criteria.md 7.1 default suggestion)    | C   |
| aplastic, count only  | CD19+ < 20 cells/µL when no % of lymphocytes is available          | S   |
| aplasia onset         | the first aplastic sample collected after the infusion             | U   |
| recovery              | 2 consecutive assessable samples at or above the threshold after   | C   |
|                       | onset ("confirmed on a subsequent sample"), dated at the first      |     |
| unexpected depletion  | aplasia after a product that does not target CD19 (CAAR-T, CAR-Treg)| U   |

Time: study day 0 is the calendar day of the infusion (:meth:`grading.records.Patient.study_day`).
A sample is every CD19 result (% of lymphocytes or cells/µL) collected at one instant, with the
lymphocyte count of the same instant. Samples before the infusion are baseline (for example B cells
already depleted by earlier anti-CD20 therapy) and never date the onset. A sample that cannot be
classified is "not assessable": it neither confirms nor interrupts a recovery, and is never read as
"B cells present".

Reviewed-by: not yet reviewed by a trial medical monitor (engineering transcription of criteria.md
section 7, 2026-11-25).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from grading.criteria import (
    Between,
    Blank,
    BoolArray,
    Condition,
    Evidence,
    Record,
    as_datetimes,
    require_columns,
)
from grading.records import Analyte, LabResult, Patient, Product
from grading.units import labs_to_canonical, to_canonical

CRITERIA_7_1 = "criteria.md 7.1"
CINCINNATI = (
    "tisagenlecleucel re-infusion series, Cincinnati (authorea preprint), quoted in criteria.md 7.1"
)
DRORACLE = "droracle (secondary source, not authoritative), quoted in criteria.md 7.1"

#: Titres to follow instead of B cells after a CAAR-T (criteria.md 7.1).
CAAR_T_TITRES = {Product.DSG3_CAAR_T: "anti-DSG3", Product.MUSK_CAAR_T: "anti-MuSK"}

#: Analytes a B-cell sample reads, and the canonical field each fills.
SAMPLE_FIELDS = {
    Analyte.CD19_PERCENT: "cd19_percent",
    Analyte.CD19_ABSOLUTE: "cd19_cells_ul",
    Analyte.LYMPHOCYTES: "lymphocytes_cells_ul",
}
CD19_FIELDS = ("cd19_percent", "cd19_cells_ul")

SUMMARY_COLUMNS = (
    "patient_id",
    "status",
    "aplasia_onset_at",
    "recovery_at",
    "days_to_recovery",
    "unexpected_depletion",
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- rules as data --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """A monitoring rule as data: what it concludes, its conditions when it reads a record, the
    source's own wording, where it stands, the evidence tag and the policy fields it uses."""

    rule_id: str
    concludes: str
    source_text: str
    citation: str
    evidence: Evidence
    requirement: str = ""  # plain words, with the policy values; built from ``when`` if empty
    when: tuple[Condition, ...] = ()
    policy_fields: tuple[str, ...] = ()
    note: str = ""

    def holds(self, record: Record) -> bool:
        return all(condition.holds(record) for condition in self.when)

    def mask(self, frame: pd.DataFrame) -> BoolArray:
        result = np.ones(len(frame), dtype=bool)
        for condition in self.when:
            result &= condition.mask(frame)
        return result

    def describe(self, policy: BaseModel | None = None) -> str:
        """The requirement in words; ``{field}`` placeholders filled from ``policy``."""
        if not self.requirement:
            return " and ".join(condition.describe() for condition in self.when)
        if policy is None:
            return self.requirement
        values = policy.model_dump(mode="json")
        shown = {
            name: ", ".join(map(str, value)) if isinstance(value, list) else value
            for name, value in values.items()
        }
        return self.requirement.format(**{name: shown[name] for name in self.policy_fields})


class Finding(_Frozen):
    """One conclusion and why: the rule, the source's wording and evidence, the policy values."""

    rule_id: str
    concludes: str
    message: str
    at: datetime | None = None
    requirement: str
    source_text: str
    citation: str
    evidence: Evidence
    note: str
    policy_values: dict[str, JsonValue]

    @classmethod
    def of(cls, rule: Rule, policy: BaseModel, message: str, at: datetime | None = None) -> Finding:
        values = policy.model_dump(mode="json")
        return cls(
            rule_id=rule.rule_id,
            concludes=rule.concludes,
            message=message,
            at=at,
            requirement=rule.describe(policy),
            source_text=rule.source_text,
            citation=rule.citation,
            evidence=rule.evidence,
            note=rule.note,
            policy_values={name: values[name] for name in rule.policy_fields},
        )


# --- policy ---------------------------------------------------------------------------------------


def _products_expecting_aplasia() -> tuple[Product, ...]:
    return tuple(product for product in Product if product.expects_b_cell_aplasia)


class BCellPolicy(_Frozen):
    """The B-cell aplasia definition a site chooses (criteria.md 7.1: 'make the aplasia threshold a
    protocol parameter'). Each field: unit, source and evidence tag, rationale."""

    aplasia_below_percent_of_lymphocytes: float = Field(
        1.0,
        gt=0,
        le=100,
        description="Unit: % of lymphocytes. A sample is aplastic below this value, B cells are "
        "present at or above it. Source: criteria.md 7.1 recommendation ('default suggestion: "
        "absolute CD19+ <1% of lymphocytes'); Cincinnati series '>1% CD19+' for loss of aplasia "
        "[C]; other trials use <1% or <3% [U]. Rationale: the spec's default; exactly 1.0 % counts "
        "as present here, as aplasia in the Cincinnati wording (DISAGREEMENT at that one value).",
        json_schema_extra={"unit": "% of lymphocytes", "evidence": "C"},
    )
    aplasia_below_cd19_cells_ul: float = Field(
        20.0,
        gt=0,
        description="Unit: CD19+ cells/µL. Used only when no % of lymphocytes is reported or "
        "derivable. Source: 'B-cell count <20 cells/µL' [S: droracle, not authoritative; verify "
        "against the protocol]. The Cincinnati series uses '100 absolute CD19+ cells' for loss of "
        "aplasia [C], unit not stated (DISAGREEMENT). Rationale: the only count threshold found.",
        json_schema_extra={"unit": "cells/uL", "evidence": "S"},
    )
    use_count_when_percent_missing: bool = Field(
        True,
        description="When no % of lymphocytes is available, classify by the absolute count. False: "
        "such a sample is not assessable. Rationale: criteria.md 7.1 asks for both values; a count "
        "alone still says more than nothing, and the result names the [S] rule it used.",
    )
    derive_percent_from_lymphocytes: bool = Field(
        True,
        description="When the % is not reported, derive it as CD19+ cells/µL ÷ lymphocytes/µL × 100 "
        "from counts of the same instant (the spec's wording 'absolute CD19+ <1% of lymphocytes'). "
        "Rationale: keeps the primary (% of lymphocytes) definition whenever the data allow it.",
        json_schema_extra={"evidence": "U"},
    )
    recovery_consecutive_samples: int = Field(
        2,
        ge=1,
        le=10,
        description="Unit: samples. Recovery needs this many consecutive assessable samples at or "
        "above the threshold after onset, and is dated at the first of them. Source: Cincinnati "
        "series, loss of aplasia '... confirmed on a subsequent sample' [C]; criteria.md 7.1 "
        "'recovery requiring two consecutive samples above threshold'. Rationale: one sample may be "
        "an assay artefact.",
        json_schema_extra={"unit": "samples", "evidence": "C"},
    )
    aplasia_expected_products: tuple[Product, ...] = Field(
        default_factory=_products_expecting_aplasia,
        description="Products after which B-cell aplasia is the expected effect; aplasia after any "
        "other product is flagged as unexpected. Default: the CD19-directed products "
        "(records.Product.expects_b_cell_aplasia). Source: criteria.md 7.1 'For CAAR-T, aplasia "
        "is not an expected effect' and 10.4 'Product-aware B-cell logic'.",
    )


# --- the rules ------------------------------------------------------------------------------------

_PERCENT_SOURCE = (
    "default suggestion: absolute CD19+ <1% of lymphocytes or below the assay LLOQ, with "
    "recovery requiring two consecutive samples above threshold"
)
_PERCENT_NOTE = (
    "Cincinnati defines loss of aplasia as '>1% CD19+' [C], so a sample at exactly 1.0 % is "
    "aplastic there and present here (DISAGREEMENT at one value; the spec's '<1%' is followed). "
    "Other trials use <1% or <3% of lymphocytes [U]. A value reported as below the assay LLOQ "
    "cannot be recorded (LabResult needs a number)."
)
_COUNT_NOTE = (
    "Not authoritative: verify against the protocol. Used only when no % of lymphocytes is "
    "available. Cincinnati: '100 absolute CD19+ cells' for loss of aplasia [C], unit not stated."
)


def sample_rules(policy: BCellPolicy) -> tuple[Rule, ...]:
    """The per-sample rules under ``policy``: exactly one holds for every sample."""
    percent = policy.aplasia_below_percent_of_lymphocytes
    count = policy.aplasia_below_cd19_cells_ul
    percent_fields = ("aplasia_below_percent_of_lymphocytes", "derive_percent_from_lymphocytes")
    count_fields = ("aplasia_below_cd19_cells_ul", "use_count_when_percent_missing")
    rules = [
        Rule(
            "BCA-PERCENT-APLASTIC",
            "aplastic",
            _PERCENT_SOURCE,
            f"{CRITERIA_7_1} (recommendation); {CINCINNATI}",
            "C",
            when=(Between("cd19_percent", None, percent, "%", high_inclusive=False),),
            policy_fields=percent_fields,
            note=_PERCENT_NOTE,
        ),
        Rule(
            "BCA-PERCENT-PRESENT",
            "present",
            _PERCENT_SOURCE,
            f"{CRITERIA_7_1} (recommendation); {CINCINNATI}",
            "C",
            when=(Between("cd19_percent", percent, None, "%"),),
            policy_fields=percent_fields,
            note=_PERCENT_NOTE,
        ),
    ]
    if policy.use_count_when_percent_missing:
        rules += [
            Rule(
                "BCA-COUNT-APLASTIC",
                "aplastic",
                "B-cell count <20 cells/µL",
                DRORACLE,
                "S",
                when=(
                    Blank("cd19_percent"),
                    Between("cd19_cells_ul", None, count, "cells/µL", high_inclusive=False),
                ),
                policy_fields=count_fields,
                note=_COUNT_NOTE,
            ),
            Rule(
                "BCA-COUNT-PRESENT",
                "present",
                "B-cell count <20 cells/µL",
                DRORACLE,
                "S",
                when=(Blank("cd19_percent"), Between("cd19_cells_ul", count, None, "cells/µL")),
                policy_fields=count_fields,
                note=_COUNT_NOTE,
            ),
        ]
    blank = (Blank("cd19_percent"), Blank("cd19_cells_ul"))
    rules.append(
        Rule(
            "BCA-SAMPLE-NOT-ASSESSABLE",
            "not_assessable",
            "store absolute CD19+ (cells/µL) and % of lymphocytes",
            f"{CRITERIA_7_1} (recommendation)",
            "U",
            when=blank if policy.use_count_when_percent_missing else blank[:1],
            policy_fields=count_fields,
            note="Missing is not normal: a sample without a usable CD19 value is never read as "
            "'B cells present'.",
        )
    )
    return tuple(rules)


_RECOVERY_SOURCE = (
    "loss of B-cell aplasia defined as '>1% CD19+ or 100 absolute CD19+ cells on peripheral "
    "analysis, confirmed on a subsequent sample'"
)
_RECOVERY_FIELDS = (
    "recovery_consecutive_samples",
    "aplasia_below_percent_of_lymphocytes",
    "aplasia_below_cd19_cells_ul",
)

ONSET = Rule(
    "BCA-ONSET",
    "aplasia_onset",
    "No single consensus threshold was found ... make the aplasia threshold a protocol parameter",
    f"{CRITERIA_7_1}",
    "U",
    requirement="the first aplastic sample collected after the infusion",
    policy_fields=("aplasia_below_percent_of_lymphocytes", "aplasia_below_cd19_cells_ul"),
    note="Implementation definition (no source defines onset). Samples before the infusion are "
    "baseline: depletion by earlier anti-CD20 therapy is not attributed to the product.",
)
RECOVERED = Rule(
    "BCA-RECOVERED",
    "recovered",
    _RECOVERY_SOURCE,
    f"{CINCINNATI}; {CRITERIA_7_1} (recommendation)",
    "C",
    requirement="{recovery_consecutive_samples} consecutive assessable samples at or above the "
    "threshold after onset; recovery is dated at the first of them",
    policy_fields=_RECOVERY_FIELDS,
    note="Samples that are not assessable are skipped: they neither confirm nor interrupt a run.",
)
RECOVERY_NOT_CONFIRMED = Rule(
    "BCA-RECOVERY-NOT-CONFIRMED",
    "recovery_not_yet_confirmed",
    _RECOVERY_SOURCE,
    f"{CINCINNATI}; {CRITERIA_7_1} (recommendation)",
    "C",
    requirement="the latest assessable samples after onset are at or above the threshold, fewer "
    "than {recovery_consecutive_samples} in a row",
    policy_fields=_RECOVERY_FIELDS,
)
APLASIA_ONGOING = Rule(
    "BCA-APLASIA-ONGOING",
    "aplasia_ongoing",
    _PERCENT_SOURCE,
    f"{CRITERIA_7_1} (recommendation)",
    "C",
    requirement="aplasia began after the infusion and the latest assessable sample is aplastic",
    policy_fields=_RECOVERY_FIELDS,
)
NO_APLASIA = Rule(
    "BCA-NO-APLASIA-DOCUMENTED",
    "no_aplasia_documented",
    _PERCENT_SOURCE,
    f"{CRITERIA_7_1} (recommendation)",
    "C",
    requirement="no assessable sample after the infusion is aplastic",
    policy_fields=("aplasia_below_percent_of_lymphocytes", "aplasia_below_cd19_cells_ul"),
)
NOT_ASSESSED = Rule(
    "BCA-NOT-ASSESSED",
    "not_assessed",
    "CD19 counts at least monthly (monthly BCA monitoring in the Cincinnati series)",
    "criteria.md 7.4",
    "C",
    requirement="no assessable CD19 sample after the infusion",
    note="Missing is not normal: without a CD19 sample nothing is said about B cells.",
)
UNEXPECTED_DEPLETION = Rule(
    "BCA-UNEXPECTED-DEPLETION",
    "unexpected_depletion",
    "For CAAR-T, aplasia is not an expected effect — track anti-DSG3/anti-MuSK titres instead.",
    f"{CRITERIA_7_1} (recommendation); records.Product.expects_b_cell_aplasia",
    "U",
    requirement="aplasia after the infusion of a product not in {aplasia_expected_products}",
    policy_fields=("aplasia_expected_products",),
    note="Mechanism: CAAR-T target only autoantigen-specific B cells; CAR-Treg are not designed to "
    "deplete B cells. The spec states this as a recommendation without a primary source.",
)
CAAR_T_TITRES_RULE = Rule(
    "BCA-CAAR-T-TITRES",
    "track_titres",
    "For CAAR-T, aplasia is not an expected effect — track anti-DSG3/anti-MuSK titres instead.",
    f"{CRITERIA_7_1} (recommendation)",
    "U",
    requirement="the product is a CAAR-T",
)

COURSE_RULES = (
    ONSET,
    RECOVERED,
    RECOVERY_NOT_CONFIRMED,
    APLASIA_ONGOING,
    NO_APLASIA,
    NOT_ASSESSED,
    UNEXPECTED_DEPLETION,
    CAAR_T_TITRES_RULE,
)


# --- results --------------------------------------------------------------------------------------


class SampleClass(StrEnum):
    APLASTIC = "aplastic"
    PRESENT = "present"  # at or above the threshold
    NOT_ASSESSABLE = "not_assessable"


class BCellStatus(StrEnum):
    NOT_ASSESSED = "not_assessed"  # no assessable CD19 sample after the infusion
    NO_APLASIA_DOCUMENTED = "no_aplasia_documented"
    APLASIA_ONGOING = "aplasia_ongoing"
    RECOVERY_NOT_YET_CONFIRMED = "recovery_not_yet_confirmed"  # one sample above, not confirmed
    RECOVERED = "recovered"


STATUS_RULES = {
    BCellStatus.NOT_ASSESSED: NOT_ASSESSED,
    BCellStatus.NO_APLASIA_DOCUMENTED: NO_APLASIA,
    BCellStatus.APLASIA_ONGOING: APLASIA_ONGOING,
    BCellStatus.RECOVERY_NOT_YET_CONFIRMED: RECOVERY_NOT_CONFIRMED,
    BCellStatus.RECOVERED: RECOVERED,
}


class BCellSample(_Frozen):
    """One CD19 sample (every CD19 result of one instant), in canonical units, classified."""

    collected_at: datetime
    study_day: int
    after_infusion: bool
    cd19_percent: float | None = Field(description="% of lymphocytes, reported or derived")
    cd19_percent_derived: bool
    cd19_cells_ul: float | None
    lymphocytes_cells_ul: float | None
    classification: SampleClass
    finding: Finding
    remarks: tuple[str, ...] = ()


class BCellCourse(_Frozen):
    """The B-cell course of one patient under one policy."""

    patient_id: str
    product: Product
    aplasia_expected: bool
    status: BCellStatus
    samples: tuple[BCellSample, ...]
    aplasia_onset_at: datetime | None
    aplasia_onset_study_day: int | None
    recovery_at: datetime | None = Field(description="the first of the confirming samples")
    recovery_confirmed_at: datetime | None = Field(description="the last of the confirming samples")
    days_to_recovery: int | None = Field(description="study day of recovery_at (day 0 = infusion)")
    unexpected_depletion: bool
    findings: tuple[Finding, ...] = Field(description="the status first, then onset, recovery, ...")
    remarks: tuple[str, ...] = ()
    policy: BCellPolicy

    @property
    def reason(self) -> str:
        return self.findings[0].message

    def finding(self, concludes: str) -> Finding | None:
        return next((f for f in self.findings if f.concludes == concludes), None)


# --- one patient ----------------------------------------------------------------------------------


def _derive_percent(cd19_cells_ul: float, lymphocytes_cells_ul: float) -> float:
    """CD19+ as % of lymphocytes from two counts; the same arithmetic as the vectorised path."""
    return cd19_cells_ul / lymphocytes_cells_ul * 100.0


def _classify(
    collected_at: datetime,
    values: dict[str, tuple[float, str | None]],
    patient: Patient,
    policy: BCellPolicy,
    rules: Sequence[Rule],
) -> BCellSample:
    remarks = [remark for _, remark in values.values() if remark]
    percent = values["cd19_percent"][0] if "cd19_percent" in values else None
    count = values["cd19_cells_ul"][0] if "cd19_cells_ul" in values else None
    lymphocytes = values["lymphocytes_cells_ul"][0] if "lymphocytes_cells_ul" in values else None
    derived = False
    if (
        percent is None
        and policy.derive_percent_from_lymphocytes
        and count is not None
        and lymphocytes is not None
        and lymphocytes > 0
    ):
        percent, derived = _derive_percent(count, lymphocytes), True
        remarks.append(
            f"CD19+ {percent:.3g} % of lymphocytes derived from {count:g} CD19+ cells/µL and "
            f"{lymphocytes:g} lymphocytes/µL of the same sample"
        )
    record = {"cd19_percent": percent, "cd19_cells_ul": count}
    rule = next(rule for rule in rules if rule.holds(record))
    classification = SampleClass(rule.concludes)
    if not derived and percent is not None and count is not None:
        by_count = count < policy.aplasia_below_cd19_cells_ul
        if by_count != (classification is SampleClass.APLASTIC):
            remarks.append(
                f"the count alone ({count:g} cells/µL) would classify this sample differently; "
                "the % of lymphocytes takes precedence"
            )
    day = patient.study_day(collected_at)
    shown = f"{percent:.3g} % of lymphocytes" if percent is not None else f"{count:g} cells/µL"
    message = (
        f"day {day}: not assessable (no CD19 value the policy can use)"
        if classification is SampleClass.NOT_ASSESSABLE
        else f"day {day}: CD19+ {shown}: {classification.value}"
    )
    return BCellSample(
        collected_at=collected_at,
        study_day=day,
        after_infusion=collected_at > patient.infusion_at,
        cd19_percent=percent,
        cd19_percent_derived=derived,
        cd19_cells_ul=count,
        lymphocytes_cells_ul=lymphocytes,
        classification=classification,
        finding=Finding.of(rule, policy, message, collected_at),
        remarks=tuple(remarks),
    )


def _b_cell_samples(
    patient: Patient, labs: Iterable[LabResult], policy: BCellPolicy
) -> list[BCellSample]:
    by_instant: dict[datetime, dict[str, tuple[float, str | None]]] = {}
    for lab in sorted(labs, key=lambda lab: lab.collected_at):  # stable: the last duplicate wins
        if lab.patient_id != patient.patient_id:
            raise ValueError(
                f"a lab result of patient {lab.patient_id!r} was passed for {patient.patient_id!r}"
            )
        field = SAMPLE_FIELDS.get(lab.analyte)
        if field is None:
            continue
        converted = to_canonical(lab.analyte, lab.value, lab.unit)
        by_instant.setdefault(lab.collected_at, {})[field] = (converted.value, converted.remark)
    rules = sample_rules(policy)
    return [
        _classify(instant, values, patient, policy, rules)
        for instant, values in sorted(by_instant.items())
        if any(field in values for field in CD19_FIELDS)
    ]


def _unexpected_message(product: Product, onset: BCellSample) -> str:
    text = (
        f"B-cell depletion is not expected after {product.value} (criteria.md 7.1), yet CD19+ "
        f"B cells were below the threshold on study day {onset.study_day}."
    )
    titre = CAAR_T_TITRES.get(product)
    if titre:
        text += f" For a CAAR-T, track {titre} titres instead of B cells."
    return text + " Review for another cause (concomitant anti-CD20 therapy, assay, sample)."


def assess_b_cells(
    patient: Patient, labs: Iterable[LabResult], policy: BCellPolicy | None = None
) -> BCellCourse:
    """Classify every CD19 sample of ``patient`` and date aplasia onset and confirmed recovery.

    ``labs`` may hold any analytes and units (converted with :mod:`grading.units`); analytes other
    than CD19 % / count and lymphocytes are ignored. A lab of another patient is an error.
    """
    policy = policy or BCellPolicy()
    samples = _b_cell_samples(patient, labs, policy)
    k = policy.recovery_consecutive_samples
    assessable = [
        s
        for s in samples
        if s.after_infusion and s.classification is not SampleClass.NOT_ASSESSABLE
    ]
    onset = next((s for s in assessable if s.classification is SampleClass.APLASTIC), None)
    recovery: list[BCellSample] = []
    run: list[BCellSample] = []
    relapse: BCellSample | None = None
    if onset is not None:
        for sample in assessable[assessable.index(onset) + 1 :]:
            present = sample.classification is SampleClass.PRESENT
            if recovery:
                if not present and relapse is None:
                    relapse = sample
                continue
            run = [*run, sample] if present else []
            if len(run) == k:
                recovery = run

    if not assessable:
        status = BCellStatus.NOT_ASSESSED
        message = (
            "not assessed: no CD19 sample"
            if not samples
            else "not assessed: no assessable CD19 sample after the infusion"
        )
    elif onset is None:
        status = BCellStatus.NO_APLASIA_DOCUMENTED
        message = (
            f"no aplasia documented in {len(assessable)} assessable sample(s) after the infusion"
        )
    elif recovery:
        status = BCellStatus.RECOVERED
        message = (
            f"recovered on study day {recovery[0].study_day} (confirmed by {k} consecutive "
            f"samples, the last on day {recovery[-1].study_day})"
        )
    elif run:
        status = BCellStatus.RECOVERY_NOT_YET_CONFIRMED
        message = (
            f"recovery not yet confirmed: {len(run)} of {k} consecutive samples at or above the "
            f"threshold since day {run[0].study_day}"
        )
    else:
        status = BCellStatus.APLASIA_ONGOING
        message = f"aplasia ongoing since study day {onset.study_day}"

    expected = patient.product in policy.aplasia_expected_products
    unexpected = onset is not None and not expected
    status_at = recovery[0].collected_at if recovery else (run[0].collected_at if run else None)
    findings = [Finding.of(STATUS_RULES[status], policy, message, status_at)]
    if onset is not None:
        findings.append(
            Finding.of(
                ONSET, policy, f"aplasia onset on study day {onset.study_day}", onset.collected_at
            )
        )
    if unexpected:
        assert onset is not None
        findings.append(
            Finding.of(
                UNEXPECTED_DEPLETION,
                policy,
                _unexpected_message(patient.product, onset),
                onset.collected_at,
            )
        )
    if patient.product in CAAR_T_TITRES:
        findings.append(
            Finding.of(
                CAAR_T_TITRES_RULE,
                policy,
                f"B-cell aplasia is not an expected effect of {patient.product.value}: track "
                f"{CAAR_T_TITRES[patient.product]} titres.",
                None,
            )
        )

    remarks = [
        f"aplastic before the infusion on study day {s.study_day} (baseline, for example after "
        "anti-CD20 therapy): not counted as onset"
        for s in samples
        if not s.after_infusion and s.classification is SampleClass.APLASTIC
    ][:1]
    if relapse is not None:
        remarks.append(f"aplastic again on study day {relapse.study_day} after confirmed recovery")
    if expected and assessable and onset is None:
        remarks.append(
            f"B-cell aplasia is the expected effect of {patient.product.value}; none documented"
        )
    return BCellCourse(
        patient_id=patient.patient_id,
        product=patient.product,
        aplasia_expected=expected,
        status=status,
        samples=tuple(samples),
        aplasia_onset_at=onset.collected_at if onset else None,
        aplasia_onset_study_day=onset.study_day if onset else None,
        recovery_at=recovery[0].collected_at if recovery else None,
        recovery_confirmed_at=recovery[-1].collected_at if recovery else None,
        days_to_recovery=recovery[0].study_day if recovery else None,
        unexpected_depletion=unexpected,
        findings=tuple(findings),
        remarks=tuple(remarks),
        policy=policy,
    )


# --- the cohort, vectorised -----------------------------------------------------------------------

_APLASTIC, _PRESENT, _NOT_ASSESSABLE = 1, 0, -1
_CODES = {"aplastic": _APLASTIC, "present": _PRESENT, "not_assessable": _NOT_ASSESSABLE}


def _per_row(per_patient: pd.Series, patient_id: pd.Series) -> pd.Series:
    """``per_patient`` (indexed by patient id) looked up for every row of ``patient_id``."""
    return pd.Series(per_patient.reindex(patient_id).to_numpy(), index=patient_id.index)


def _sample_frame(labs: pd.DataFrame, ids: pd.Index, policy: BCellPolicy) -> pd.DataFrame:
    """One row per (patient, instant) with a CD19 result: canonical values and the class code."""
    fields = {analyte.value: field for analyte, field in SAMPLE_FIELDS.items()}
    analyte = labs["analyte"].astype(str)
    keep = analyte.isin(list(fields)) & labs["patient_id"].isin(ids) & labs["value"].notna()
    sub = labs.loc[keep, ["patient_id", "collected_at", "analyte", "value", "unit"]].copy()
    sub["analyte"] = analyte[keep]
    sub["collected_at"] = as_datetimes(sub["collected_at"])
    sub = labs_to_canonical(sub)
    sub["value_canonical"] = np.round(sub["value_canonical"].to_numpy(dtype=float), 6)
    sub = sub.sort_values("collected_at", kind="stable").drop_duplicates(
        ["patient_id", "collected_at", "analyte"], keep="last"
    )
    wide = (
        sub.set_index(["patient_id", "collected_at", "analyte"])["value_canonical"]
        .unstack("analyte")
        .reindex(columns=list(fields))
        .rename(columns=fields)
        .reset_index()
    )
    wide.columns.name = None
    wide = wide[wide["cd19_percent"].notna() | wide["cd19_cells_ul"].notna()]
    percent = wide["cd19_percent"].to_numpy(dtype=float)
    count = wide["cd19_cells_ul"].to_numpy(dtype=float)
    lymphocytes = wide["lymphocytes_cells_ul"].to_numpy(dtype=float)
    if policy.derive_percent_from_lymphocytes:
        derive = np.isnan(percent) & ~np.isnan(count) & (np.nan_to_num(lymphocytes) > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            percent = np.where(derive, count / lymphocytes * 100.0, percent)  # as _derive_percent
    wide = wide.assign(cd19_percent=percent)
    rules = sample_rules(policy)
    wide["code"] = np.select(
        [rule.mask(wide) for rule in rules],
        [_CODES[rule.concludes] for rule in rules],
        default=_NOT_ASSESSABLE,
    ).astype(np.int8)
    return wide.sort_values(["patient_id", "collected_at"]).reset_index(drop=True)


def b_cell_summary(
    patients: pd.DataFrame, labs: pd.DataFrame, policy: BCellPolicy | None = None
) -> pd.DataFrame:
    """One row per patient (in the order of ``patients``): the columns of :data:`SUMMARY_COLUMNS`.

    Vectorised over the cohort (groupby and numpy, no loop over rows or patients); agrees with
    :func:`assess_b_cells` on every patient. ``patients`` has ``patient_id``, ``product`` and
    ``infusion_at``; ``labs`` has ``patient_id``, ``collected_at``, ``analyte``, ``value`` and
    ``unit`` (any known unit). Lab rows of patients not listed, and rows without a value, are
    ignored. ``days_to_recovery`` is the study day of ``recovery_at`` (day 0 = infusion).
    """
    policy = policy or BCellPolicy()
    require_columns(patients, "patients", ("patient_id", "product", "infusion_at"))
    require_columns(labs, "labs", ("patient_id", "collected_at", "analyte", "value", "unit"))
    if patients["patient_id"].duplicated().any():
        raise ValueError("patients lists a patient_id twice")
    ids = pd.Index(patients["patient_id"])
    infusion = pd.Series(as_datetimes(patients["infusion_at"]).to_numpy(), index=ids)

    wide = _sample_frame(labs, ids, policy)
    pid = wide["patient_id"]
    after = (wide["collected_at"] > _per_row(infusion, pid)).to_numpy()
    samples = wide[after & (wide["code"].to_numpy() != _NOT_ASSESSABLE)]
    pid = samples["patient_id"]
    aplastic = samples["code"] == _APLASTIC
    onset = samples.loc[aplastic, "collected_at"].groupby(pid[aplastic]).min()

    post = samples[(samples["collected_at"] > _per_row(onset, pid)).to_numpy()]
    post_id = post["patient_id"]
    present = post["code"] == _PRESENT
    run_id = (~present).astype(np.int64).groupby(post_id).cumsum()
    run_length = present.astype(np.int64).groupby([post_id, run_id]).cumsum()
    run_start = post["collected_at"].where(present).groupby([post_id, run_id]).transform("min")
    confirming = run_length == policy.recovery_consecutive_samples
    recovery = run_start[confirming].groupby(post_id[confirming]).first()
    pending = present.groupby(post_id).last()

    onset_at = onset.reindex(ids)
    recovery_at = recovery.reindex(ids)
    has_onset = onset_at.notna().to_numpy()
    out = pd.DataFrame({"patient_id": ids})
    out["status"] = np.select(
        [
            ~ids.isin(pid.unique()),
            ~has_onset,
            recovery_at.notna().to_numpy(),
            pending.reindex(ids, fill_value=False).to_numpy(dtype=bool),
        ],
        [
            BCellStatus.NOT_ASSESSED.value,
            BCellStatus.NO_APLASIA_DOCUMENTED.value,
            BCellStatus.RECOVERED.value,
            BCellStatus.RECOVERY_NOT_YET_CONFIRMED.value,
        ],
        default=BCellStatus.APLASIA_ONGOING.value,
    )
    out["aplasia_onset_at"] = onset_at.to_numpy()
    out["recovery_at"] = recovery_at.to_numpy()
    days = (recovery_at.dt.normalize() - infusion.dt.normalize()).dt.days
    out["days_to_recovery"] = days.astype("Int64").array
    expected = (
        patients["product"]
        .astype(str)
        .isin([product.value for product in policy.aplasia_expected_products])
    )
    out["unexpected_depletion"] = has_onset & ~expected.to_numpy(dtype=bool)
    return out[list(SUMMARY_COLUMNS)]
