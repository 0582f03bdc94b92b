"""The scenario patients: deliberately severe or unusual courses so that every alert fires somewhere.

The first ``len(SCENARIOS)`` patients of every generated cohort are these, in this order (fewer when
the cohort is smaller); the rest are drawn at random at published autoimmune rates. Their clinical
course is written out in :mod:`sample_data.scenario_specs`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    alert: str


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "crs_grade_3_masked",
        "SLE, CD19 CAR T: CRS from day 1; after two tocilizumab doses afebrile but on "
        "norepinephrine and a face mask, briefly BiPAP with vasopressin; dexamethasone q6h",
        "CRS grade 3-4 on masked rows (fever no longer required), steroids and ICU indicated",
    ),
    Scenario(
        "icans_grade_3_seizure",
        "Myositis, CD19 CAR T: grade 1 CRS, then ICANS from day 3 with ICE down to 2 and one "
        "self-limiting seizure; dexamethasone q6h, levetiracetam",
        "ICANS grade 3: steroids and ICU indicated",
    ),
    Scenario(
        "crs_grade_1_over_72h",
        "MuSK myasthenia gravis, MuSK-CAAR-T: fever without hypotension or hypoxia for 4 days, "
        "paracetamol only",
        "consider tocilizumab: grade 1 CRS for more than 72 h",
    ),
    Scenario(
        "tocilizumab_limit",
        "Systemic sclerosis, CD19-BCMA CAR T: refractory grade 3 CRS, tocilizumab 3 doses in "
        "24 h and a 4th the next day, norepinephrine, dexamethasone",
        "tocilizumab limit reached (3 doses in 24 h, 4 in total)",
    ),
    Scenario(
        "iec_hs_after_crs",
        "SLE, CD19 CAR T: grade 2 CRS resolved by day 2; from day 7 ferritin > 2x baseline, "
        "fibrinogen < 150 mg/dL, new thrombocytopenia and neutropenia; anakinra",
        "consider IEC-HS (ferritin > 2x baseline with coagulopathy and new cytopenia)",
    ),
    Scenario(
        "prolonged_neutropenia",
        "Systemic sclerosis, CD19 CAR T: ANC <= 500/uL from day 1 to day 24, G-CSF from day 14",
        "early ICAHT grade 3 (ANC <= 500/uL on >= 14 days in days 0-30)",
    ),
    Scenario(
        "late_b_cell_recovery",
        "SLE, CD19 CAR T: B-cell aplasia until about day 225",
        "B-cell recovery after day 180 (late)",
    ),
    Scenario(
        "no_b_cell_recovery",
        "Myositis, CD19-BCMA CAR T: CD19 < 1% of lymphocytes at every sample to day 365",
        "no B-cell recovery by day 365",
    ),
    Scenario(
        "low_igg_ivig",
        "SLE, CD19-BCMA CAR T: IgG 335-390 mg/dL from day 30 to day 150, IVIG 0.4 g/kg every "
        "28 days from day 31 until IgG recovers (6 doses), two non-serious infections",
        "IgG <= 400 mg/dL: IVIG indicated; repeated IVIG",
    ),
    Scenario(
        "caar_t_b_cell_depletion",
        "Pemphigus vulgaris, DSG3-CAAR-T: CD19 < 1% of lymphocytes from day 30 to day 120",
        "unexpected B-cell depletion after a CAAR-T product",
    ),
    Scenario(
        "serious_infections_aplasia",
        "SLE, CD19 CAR T: pneumonia (day 48) and urosepsis (day 97), both serious, and zoster "
        "(day 131) during B-cell aplasia",
        "serious infections while B-cell aplastic",
    ),
    Scenario(
        "licats",
        "SLE, CD19 CAR T: LICATS of the kidney (grade 2, creatinine +70%, days 9-22) and the "
        "skin (grade 1, days 11-17)",
        "LICATS recorded apart from CRS and disease flare",
    ),
    Scenario(
        "missed_checks",
        "Other autoimmune disease, CAR-Treg: four 4-hourly assessments not recorded on day 3 "
        "(a 20-hour gap), ICE not done three times, vital signs and the oxygen device not "
        "recorded, two lab days missed",
        "missed and overdue assessments; rows not gradable",
    ),
    Scenario(
        "child_capd",
        "SLE, CD19 CAR T, age 9, 27 kg: grade 2 CRS with tocilizumab 12 mg/kg and ICANS "
        "grade 1 by CAPD",
        "ICANS graded with CAPD (child under 12); tocilizumab indicated",
    ),
    Scenario(
        "age_12_either",
        "SLE, CD19 CAR T, age exactly 12: ICE and CAPD both recorded; grade 1 CRS with "
        "concurrent grade 1 ICANS",
        "age 12: the more severe of ICE and CAPD (policy 'either'); tocilizumab indicated",
    ),
)

SCENARIO_NAMES: tuple[str, ...] = tuple(scenario.name for scenario in SCENARIOS)
