"""ICAHT: immune effector cell-associated haematotoxicity (EHA/EBMT 2023), neutropenia grading, as data.

Source: Rejeski K, Subklewe M, Aljurf M, et al. Immune effector cell-associated hematotoxicity:
EHA/EBMT consensus grading and best practice recommendations. Blood 2023;142(10):865-877.
doi:10.1182/blood.2023020578. Rows follow criteria.md section 5.

PROVISIONAL: the primary table (Rejeski 2023 Table 1) was not available (criteria.md section 5). The
rows match a third-party implementation (ICahtGrader: thresholds <=500 and <=100 cells/uL) [S] and
the later T-ICAHT paper, which "follows the principal logic of the existing N-ICAHT grading", counts
cumulative days below threshold and asks for "two or more laboratory tests or nontransient" cytopenia
for late grading [C for T-ICAHT, S for N-ICAHT]. Verify against Rejeski 2023 Table 1 before use.

| Early ICAHT (day 0-30)        | Grade 1 | Grade 2 | Grade 3 | Grade 4                                  |
|-------------------------------|---------|---------|---------|------------------------------------------|
| ANC <=500/uL, cumulative days | <7      | 7-13    | >=14    | never >500 during day 0-30 (~>=30 days)  |
| ANC <=100/uL, cumulative days | -       | -       | >=7     | >=14                                     |

| Late ICAHT (after day +30; >=2 measurements or non-transient) | G1    | G2    | G3   | G4   |
|----------------------------------------------------------------|-------|-------|------|------|
| ANC nadir (cells/uL)                                           | <=1500| <=1000| <=500| <=100|

The grade of a domain is the highest row that fires. The fields are computed from the patient's daily
ANC by :func:`grading.cytopenia.assess_icaht`: how a day without a sample counts is a site policy
(:class:`grading.cytopenia.CytopeniaPolicy`, ``icaht_unsampled_days``), and the result says how many
days had no sample, so that the grade is read as a lower bound. The late nadir is "non-transient":
the second-lowest daily ANC after day 30, so that grade g needs two days at or below its threshold.

Thrombocytopenia (T-ICAHT, a separate later proposal) is not graded here.

Reviewed-by: not yet reviewed by a trial medical monitor (engineering transcription of criteria.md
section 5, 2026-11-24).
"""

from __future__ import annotations

from grading.criteria import Between, Criterion, Domain, Instrument, Is

PROVISIONAL = "provisional: primary table not available (criteria.md section 5)"
CITATION = (
    "Rejeski 2023 Blood 142(10):865-877, Table 1 (not read); criteria.md section 5 "
    "[S: ICahtGrader; T-ICAHT paper, ash-sap.org 12809257]"
)
VERIFY = "Verify against Rejeski 2023 Table 1."

EARLY = "early"
LATE = "late"

#: Fields the rows read (computed by grading.cytopenia.assess_icaht).
DAYS_LE_500 = "days_anc_le_500"
DAYS_LE_100 = "days_anc_le_100"
NEVER_ABOVE_500 = "anc_never_above_500_day_0_30"
LATE_NADIR = "late_nontransient_nadir_anc_cells_ul"

#: The early window, in study days (day 0 = infusion), both ends included.
EARLY_FIRST_DAY = 0
EARLY_LAST_DAY = 30
#: Thresholds of the early day counts, cells/uL, "at or below".
EARLY_THRESHOLDS = (500.0, 100.0)

DOMAINS = (
    Domain(
        EARLY,
        "Early ICAHT (day 0-30): cumulative days with ANC <=500 and <=100 cells/uL",
        (DAYS_LE_500, DAYS_LE_100, NEVER_ABOVE_500),
    ),
    Domain(
        LATE,
        "Late ICAHT (after day +30): non-transient ANC nadir (>=2 measurements)",
        (LATE_NADIR,),
    ),
)

CRITERIA = (
    Criterion(
        "ICAHT-EARLY-0",
        EARLY,
        0,
        (Between(DAYS_LE_500, 0, 0, "days"),),
        "No day with ANC <=500/uL during day 0-30",
        CITATION,
        "S",
        f"No early ICAHT on the days counted. {VERIFY}",
    ),
    Criterion(
        "ICAHT-EARLY-1",
        EARLY,
        1,
        (Between(DAYS_LE_500, 1, 7, "days", high_inclusive=False),),
        "ANC <=500/uL: <7 days (cumulative)",
        CITATION,
        "S",
        f"1 to 6 days counted at or below 500 cells/uL. {VERIFY}",
    ),
    Criterion(
        "ICAHT-EARLY-2",
        EARLY,
        2,
        (Between(DAYS_LE_500, 7, 13, "days"),),
        "ANC <=500/uL: 7-13 days (cumulative)",
        CITATION,
        "S",
        f"7 to 13 days counted at or below 500 cells/uL. {VERIFY}",
    ),
    Criterion(
        "ICAHT-EARLY-3-500",
        EARLY,
        3,
        (Between(DAYS_LE_500, 14, None, "days"),),
        "ANC <=500/uL: >=14 days (cumulative)",
        CITATION,
        "S",
        f"Days with a non-stable recovery in between still count (T-ICAHT logic). {VERIFY}",
    ),
    Criterion(
        "ICAHT-EARLY-3-100",
        EARLY,
        3,
        (Between(DAYS_LE_100, 7, None, "days"),),
        "ANC <=100/uL: >=7 days (cumulative)",
        CITATION,
        "S",
        f"Grade 3 by depth whatever the days at or below 500. {VERIFY}",
    ),
    Criterion(
        "ICAHT-EARLY-4-NEVER",
        EARLY,
        4,
        (Is(NEVER_ABOVE_500, (True,)),),
        "ANC <=500/uL: never >500 during day 0-30 (≈ ≥30 days)",
        CITATION,
        "U",
        "Read literally: every day 0-30 counted at or below 500 cells/uL (all 31 days). "
        "criteria.md glosses it '≈ ≥30 days'; whether one day above 500 is tolerated is not "
        f"known [U]. {VERIFY}",
    ),
    Criterion(
        "ICAHT-EARLY-4-100",
        EARLY,
        4,
        (Between(DAYS_LE_100, 14, None, "days"),),
        "ANC <=100/uL: >=14 days (cumulative)",
        CITATION,
        "S",
        VERIFY,
    ),
    Criterion(
        "ICAHT-LATE-0",
        LATE,
        0,
        (Between(LATE_NADIR, 1500, None, "cells/uL", low_inclusive=False),),
        "Non-transient ANC nadir after day +30 above 1500/uL",
        CITATION,
        "S",
        f"No late ICAHT: fewer than two days at or below 1500 cells/uL. {VERIFY}",
    ),
    Criterion(
        "ICAHT-LATE-1",
        LATE,
        1,
        (Between(LATE_NADIR, None, 1500, "cells/uL"),),
        "ANC nadir ≤1500/µL (after day +30; ≥2 measurements or non-transient)",
        CITATION,
        "S",
        f"1500 itself is grade 1. {VERIFY}",
    ),
    Criterion(
        "ICAHT-LATE-2",
        LATE,
        2,
        (Between(LATE_NADIR, None, 1000, "cells/uL"),),
        "ANC nadir ≤1000/µL (after day +30; ≥2 measurements or non-transient)",
        CITATION,
        "S",
        VERIFY,
    ),
    Criterion(
        "ICAHT-LATE-3",
        LATE,
        3,
        (Between(LATE_NADIR, None, 500, "cells/uL"),),
        "ANC nadir ≤500/µL (after day +30; ≥2 measurements or non-transient)",
        CITATION,
        "S",
        VERIFY,
    ),
    Criterion(
        "ICAHT-LATE-4",
        LATE,
        4,
        (Between(LATE_NADIR, None, 100, "cells/uL"),),
        "ANC nadir ≤100/µL (after day +30; ≥2 measurements or non-transient)",
        CITATION,
        "S",
        VERIFY,
    ),
)

INSTRUMENT = Instrument(
    key="icaht_2023",
    name="ICAHT neutropenia grading (EHA/EBMT 2023), provisional",
    version="2023",
    reference="Rejeski K, et al. Blood 2023;142(10):865-877. doi:10.1182/blood.2023020578. "
    f"{PROVISIONAL}",
    domains=DOMAINS,
    criteria=CRITERIA,
    reviewed="Engineering transcription of criteria.md section 5 (2026-11-24), evidence S/U; "
    "primary table not read; medical-monitor review pending",
)
