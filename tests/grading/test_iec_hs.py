"""The consider-IEC-HS screen (criteria.md section 4, UNCONFIRMED [U]) on hand-written timelines.

Ferritin > 2 x ULN (default ULN 400 ng/mL: 800 does not fire, 800.1 does), > 2 x baseline (the last
value before infusion) or doubling within 48 h; plus >= 1 of: new ANC < 1000 / platelets < 50 after
infusion or a CTCAE grade rising, fibrinogen < 150 mg/dL (150 does not fire, 149 does), ALT or AST
> 3 x ULN (default 40 U/L: 120 does not fire, 121 does). No ferritin: not assessable.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from grading import iec_hs
from grading.cytopenia import CytopeniaPolicy, IecHsScreen, ScreenStatus, screen_iec_hs
from grading.records import Analyte, Disease, LabResult, Patient, Product, Sex

INFUSION = datetime(2026, 3, 1, 10, 0)
AT = datetime(2026, 3, 11, 12, 0)  # study day 10
PATIENT = Patient(
    patient_id="P1",
    site_id="S1",
    disease=Disease.MYOSITIS,
    product=Product.CD19_CAR_T,
    infusion_at=INFUSION,
    sex=Sex.MALE,
)
UNITS = {
    Analyte.FERRITIN: "ng/mL",
    Analyte.ANC: "cells/uL",
    Analyte.PLATELETS: "10^9/L",
    Analyte.HEMOGLOBIN: "g/dL",
    Analyte.FIBRINOGEN: "mg/dL",
    Analyte.ALT: "U/L",
    Analyte.AST: "U/L",
}


def lab(analyte: Analyte, value: float, hours_before_at: float = 2, unit: str = "") -> LabResult:
    return LabResult(
        patient_id="P1",
        collected_at=AT - timedelta(hours=hours_before_at),
        analyte=analyte,
        value=value,
        unit=unit or UNITS[analyte],
    )


def normal_accompanying(**values: float) -> list[LabResult]:
    """Normal counts, fibrinogen and transaminases in the window, with ``values`` replaced."""
    defaults = {"anc": 3000.0, "platelets": 200.0, "fibrinogen": 300.0, "alt": 30.0, "ast": 30.0}
    defaults.update(values)
    return [lab(Analyte(name), value) for name, value in defaults.items()]


def screen(labs: list[LabResult], policy: CytopeniaPolicy | None = None) -> IecHsScreen:
    return screen_iec_hs(PATIENT, labs, policy or CytopeniaPolicy(), AT)


def rules(result: IecHsScreen) -> list[str]:
    return [f.rule.rule_id for f in result.findings]


# --- Ferritin ---------------------------------------------------------------------------------


def test_ferritin_exactly_twice_the_uln_does_not_fire() -> None:
    result = screen([lab(Analyte.FERRITIN, 800), *normal_accompanying(fibrinogen=100)])
    assert result.ferritin_criterion_met is False
    assert result.status is ScreenStatus.NEGATIVE
    assert rules(result) == ["IECHS-FIBRINOGEN"]
    assert result.message == ""


def test_ferritin_just_above_twice_the_uln_with_low_fibrinogen_is_positive() -> None:
    result = screen([lab(Analyte.FERRITIN, 800.1), *normal_accompanying(fibrinogen=100)])
    assert result.status is ScreenStatus.POSITIVE
    assert result.ferritin_criterion_met is True
    assert result.components_met == ("coagulopathy",)
    assert rules(result) == ["IECHS-FERRITIN-ULN", "IECHS-FIBRINOGEN"]
    ferritin = result.findings[0]
    assert (ferritin.value, ferritin.unit, ferritin.collected_at, ferritin.study_day) == (
        800.1,
        "ng/mL",
        AT - timedelta(hours=2),
        10,
    )
    assert ferritin.detail == "ferritin 800.1 ng/mL = 2 x ULN (400 ng/mL)"
    assert result.message == (
        "consider IEC-HS (criteria unconfirmed; Hines 2023 tables not verified); differential: "
        "HLH related to the underlying autoimmune disease (Greco 2024)"
    )
    assert result.reason.startswith(result.message)


def test_a_site_ferritin_uln_moves_the_cut_point() -> None:
    labs = [lab(Analyte.FERRITIN, 900), *normal_accompanying(fibrinogen=100)]
    assert screen(labs).status is ScreenStatus.POSITIVE
    raised = CytopeniaPolicy(iec_hs_ferritin_uln_ng_ml=450)
    assert screen(labs, raised).status is ScreenStatus.NEGATIVE


def test_ferritin_above_twice_the_pre_infusion_baseline() -> None:
    baseline = LabResult(
        patient_id="P1",
        collected_at=INFUSION - timedelta(days=1),
        analyte=Analyte.FERRITIN,
        value=300,
        unit="ng/mL",
    )
    twice = screen([baseline, lab(Analyte.FERRITIN, 600), *normal_accompanying(alt=200)])
    above = screen([baseline, lab(Analyte.FERRITIN, 601), *normal_accompanying(alt=200)])
    assert twice.status is ScreenStatus.NEGATIVE
    assert above.status is ScreenStatus.POSITIVE
    assert rules(above) == ["IECHS-FERRITIN-BASELINE", "IECHS-ALT"]
    assert above.findings[0].detail == (
        "ferritin 601 ng/mL = 2.003 x baseline 300 ng/mL (day -1, last before infusion)"
    )


def test_ferritin_doubling_within_48_hours_is_rapidly_rising() -> None:
    accompanying = normal_accompanying(ast=130)
    within = screen([lab(Analyte.FERRITIN, 350, 50), lab(Analyte.FERRITIN, 700), *accompanying])
    late = screen([lab(Analyte.FERRITIN, 350, 51), lab(Analyte.FERRITIN, 700), *accompanying])
    less = screen([lab(Analyte.FERRITIN, 350, 50), lab(Analyte.FERRITIN, 699), *accompanying])
    assert within.status is ScreenStatus.POSITIVE
    assert rules(within) == ["IECHS-FERRITIN-RISING", "IECHS-AST"]
    assert within.findings[0].detail == (
        "ferritin 350 -> 700 ng/mL (2-fold) in 48 h (policy: x2 within 48 h)"
    )
    assert late.status is ScreenStatus.NEGATIVE  # 49 h apart
    assert less.status is ScreenStatus.NEGATIVE


def test_no_ferritin_is_not_assessable() -> None:
    result = screen(normal_accompanying(fibrinogen=100, alt=500))
    assert result.status is ScreenStatus.NOT_ASSESSABLE
    assert result.ferritin_criterion_met is None
    assert "ferritin (none in the 72 h window)" in result.missing
    assert result.message == ""
    assert result.reason.startswith("IEC-HS screen not assessable")


def test_ferritin_older_than_the_window_or_after_the_instant_is_not_used() -> None:
    old = screen([lab(Analyte.FERRITIN, 5000, 73), *normal_accompanying(fibrinogen=100)])
    future = screen([lab(Analyte.FERRITIN, 5000, -1), *normal_accompanying(fibrinogen=100)])
    assert old.status is ScreenStatus.NOT_ASSESSABLE
    assert future.status is ScreenStatus.NOT_ASSESSABLE
    shorter = CytopeniaPolicy(iec_hs_lookback_hours=24)
    edge = [lab(Analyte.FERRITIN, 5000, 24), *normal_accompanying(fibrinogen=100)]
    assert screen(edge, shorter).status is ScreenStatus.NOT_ASSESSABLE  # window is (at-24h, at]
    assert screen(edge).status is ScreenStatus.POSITIVE


def test_ferritin_met_without_accompanying_labs_is_not_assessable() -> None:
    result = screen([lab(Analyte.FERRITIN, 3000), lab(Analyte.FIBRINOGEN, 300)])
    assert result.status is ScreenStatus.NOT_ASSESSABLE
    assert result.ferritin_criterion_met is True
    assert result.missing == (
        "anc (none in the 72 h window)",
        "platelets (none in the 72 h window)",
        "alt (none in the 72 h window)",
        "ast (none in the 72 h window)",
    )


def test_ferritin_met_with_every_accompanying_lab_normal_is_negative() -> None:
    result = screen([lab(Analyte.FERRITIN, 3000), *normal_accompanying()])
    assert result.status is ScreenStatus.NEGATIVE
    assert result.ferritin_criterion_met is True
    assert result.missing == ()


# --- Accompanying findings --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fibrinogen", "unit", "status"),
    [
        (150, "mg/dL", ScreenStatus.NEGATIVE),
        (149, "mg/dL", ScreenStatus.POSITIVE),
        (1.5, "g/L", ScreenStatus.NEGATIVE),
        (1.49, "g/L", ScreenStatus.POSITIVE),
    ],
)
def test_fibrinogen_below_150_mg_per_dl(fibrinogen: float, unit: str, status: ScreenStatus) -> None:
    labs = [
        lab(Analyte.FERRITIN, 2000),
        *normal_accompanying(),
        lab(Analyte.FIBRINOGEN, fibrinogen, 1, unit),
    ]
    assert screen(labs).status is status


def test_converted_fibrinogen_is_reported_with_a_remark() -> None:
    labs = [lab(Analyte.FERRITIN, 2000), *normal_accompanying(fibrinogen=1.2)]
    labs[-3] = lab(Analyte.FIBRINOGEN, 1.2, unit="g/L")
    result = screen(labs)
    fibrinogen = next(f for f in result.findings if f.rule.rule_id == "IECHS-FIBRINOGEN")
    assert (fibrinogen.value, fibrinogen.unit) == (120.0, "mg/dL")
    assert "fibrinogen 1.2 g/L = 120 mg/dL" in result.remarks


@pytest.mark.parametrize(
    ("alt", "ast", "status", "fired"),
    [
        (120, 30, ScreenStatus.NEGATIVE, []),
        (121, 30, ScreenStatus.POSITIVE, ["IECHS-ALT"]),
        (30, 120, ScreenStatus.NEGATIVE, []),
        (30, 121, ScreenStatus.POSITIVE, ["IECHS-AST"]),
    ],
)
def test_transaminases_above_three_times_the_uln(
    alt: float, ast: float, status: ScreenStatus, fired: list[str]
) -> None:
    result = screen([lab(Analyte.FERRITIN, 2000), *normal_accompanying(alt=alt, ast=ast)])
    assert result.status is status
    assert rules(result) == ["IECHS-FERRITIN-ULN", *fired]


def _pre(analyte: Analyte, value: float) -> LabResult:
    return LabResult(
        patient_id="P1",
        collected_at=INFUSION - timedelta(hours=6),
        analyte=analyte,
        value=value,
        unit=UNITS[analyte],
    )


def test_a_new_anc_below_1000_after_infusion_is_a_cytopenia() -> None:
    labs = [
        _pre(Analyte.ANC, 2500),
        lab(Analyte.FERRITIN, 2000),
        *normal_accompanying(anc=999),
    ]
    result = screen(labs)
    assert result.status is ScreenStatus.POSITIVE
    assert result.components_met == ("cytopenia",)
    anc = [f for f in result.findings if f.analyte is Analyte.ANC]
    assert [f.rule.rule_id for f in anc] == ["IECHS-CYTOPENIA-ANC", "IECHS-CYTOPENIA-WORSENING"]
    assert anc[0].detail == (
        "anc 999 cells/uL < 1000 after infusion; last before infusion 2500 cells/uL (day 0)"
    )


def test_anc_of_1000_is_not_a_new_cytopenia() -> None:
    labs = [_pre(Analyte.ANC, 1000), lab(Analyte.FERRITIN, 2000), *normal_accompanying(anc=1000)]
    assert screen(labs).status is ScreenStatus.NEGATIVE


def test_a_count_already_low_before_infusion_is_not_new_unless_its_grade_rises() -> None:
    same_grade = [
        _pre(Analyte.ANC, 800),
        lab(Analyte.FERRITIN, 2000),
        *normal_accompanying(anc=700),
    ]
    result = screen(same_grade)
    assert result.status is ScreenStatus.NEGATIVE  # grade 3 before and after
    worse = [_pre(Analyte.ANC, 800), lab(Analyte.FERRITIN, 2000), *normal_accompanying(anc=400)]
    result = screen(worse)
    assert result.status is ScreenStatus.POSITIVE
    (finding,) = [f for f in result.findings if f.component == "cytopenia"]
    assert finding.rule.rule_id == "IECHS-CYTOPENIA-WORSENING"
    assert finding.detail.startswith(
        "Neutrophil count decreased CTCAE grade 4 (400 cells/uL), previous grade 3"
    )


@pytest.mark.parametrize(("platelets", "fires"), [(50, False), (49, True)])
def test_new_platelets_below_50(platelets: float, fires: bool) -> None:
    # Previous count 51 (grade 2) after infusion, outside the window; baseline 160.
    labs = [
        _pre(Analyte.PLATELETS, 160),
        lab(Analyte.PLATELETS, 51, 100),
        lab(Analyte.FERRITIN, 2000),
        *normal_accompanying(platelets=platelets),
    ]
    result = screen(labs)
    assert result.status is (ScreenStatus.POSITIVE if fires else ScreenStatus.NEGATIVE)
    assert ("IECHS-CYTOPENIA-PLT" in rules(result)) is fires


def test_platelets_already_below_50_before_infusion_are_not_new() -> None:
    labs = [
        _pre(Analyte.PLATELETS, 45),
        lab(Analyte.FERRITIN, 2000),
        *normal_accompanying(platelets=40),  # grade 3 as before: not worsening either
    ]
    assert screen(labs).status is ScreenStatus.NEGATIVE


def test_without_a_pre_infusion_count_a_low_count_is_counted_as_new_and_said() -> None:
    result = screen([lab(Analyte.FERRITIN, 2000), *normal_accompanying(anc=900)])
    assert result.status is ScreenStatus.POSITIVE
    assert (
        "no anc before the infusion: anc below 1000 cells/uL after it is counted as a new cytopenia"
        in result.remarks
    )


def test_a_falling_haemoglobin_grade_is_a_worsening_cytopenia() -> None:
    labs = [
        lab(Analyte.FERRITIN, 2000),
        *normal_accompanying(),
        lab(Analyte.HEMOGLOBIN, 13.6, 30),
        lab(Analyte.HEMOGLOBIN, 9.9, 1),
    ]
    result = screen(labs)
    assert result.status is ScreenStatus.POSITIVE
    (finding,) = [f for f in result.findings if f.component == "cytopenia"]
    assert finding.detail.startswith("Anemia CTCAE grade 2 (9.9 g/dL), previous grade 0")


# --- The screen as data -----------------------------------------------------------------------


def test_every_result_and_row_is_marked_unconfirmed() -> None:
    result = screen([lab(Analyte.FERRITIN, 2000), *normal_accompanying(fibrinogen=100)])
    assert result.evidence == "U"
    assert result.caveat == iec_hs.CAVEAT
    assert "UNCONFIRMED" in result.caveat
    assert "as CRS resolves or after" in result.timing
    assert result.reason.endswith("[U]")
    for finding in result.findings:
        assert finding.rule.evidence == "U"
    for row in iec_hs.CRITERIA:
        assert row.evidence == "U"
        assert "UNCONFIRMED" in row.note
        assert "Hines 2023" in row.citation


def test_the_screen_defaults_to_the_last_lab() -> None:
    labs = [lab(Analyte.FERRITIN, 2000, 5), *normal_accompanying(fibrinogen=100)]
    result = screen_iec_hs(PATIENT, labs)
    assert result.at == AT - timedelta(hours=2)
    assert result.status is ScreenStatus.POSITIVE
