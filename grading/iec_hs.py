"""A "consider IEC-HS" screen: the recalled IEC-HS criteria, as data. UNCONFIRMED [U] throughout.

Source: Hines MR, Knight TE, McNerney KO, et al. Immune Effector Cell-Associated Hemophagocytic
Lymphohistiocytosis-Like Syndrome. Transplant Cell Ther 2023. PMID 36906275 (criteria.md section 4).
Only the abstract was confirmed [C]; every criterion below is RECALLED, not read in the paper's tables
[U]. This is a screen that prompts a physician to consider IEC-HS, never a diagnosis and never a grade.

Screen positive when, within the look-back window of the site policy:

| Component                              | Fires when (canonical units)                               |
|----------------------------------------|------------------------------------------------------------|
| Ferritin (required, any of)            | > 2 x ULN; > 2 x baseline (last value before infusion);    |
|                                        | rapidly rising (site policy: doubling within 48 h)         |
| plus >= 1 of: cytopenia, new/worsening | ANC < 1000 cells/uL or platelets < 50 x10^9/L new after     |
|                                        | infusion; or a CTCAE v5.0 cytopenia grade higher than the  |
|                                        | grade of the previous sample of the same analyte           |
| coagulopathy                           | fibrinogen < 150 mg/dL                                     |
| transaminases                          | ALT or AST > 3 x ULN                                       |

"Typically arising as CRS resolves or after CRS resolution, not attributable to another process" is
part of the recalled definition and is not checked from labs: the result says so. Supportive findings
(hemophagocytosis, LDH, triglycerides, splenomegaly) are not read. Upper limits of normal are lab
values and live in the site policy (:class:`grading.cytopenia.CytopeniaPolicy`, defaults [U]); the
rows read ratios to them so that the rows stay the same for every site. The cut-offs 1000 cells/uL
and 50 x10^9/L for a new cytopenia are an engineering reading of "new or worsening cytopenias" [U]
(ANC < 1 x10^9/L is the HLH-2004 cytopenia criterion [C: PMC8212354 Table 2]).

Differential in autoimmune disease: "HLH can be causally related to underlying ADs and should be
considered as differential diagnosis in case of prolonged cytopenia" [C: Greco 2024, PMC10867419
Table 7].

Reviewed-by: not yet reviewed by a trial medical monitor (engineering transcription of criteria.md
section 4, 2026-11-24).
"""

from __future__ import annotations

from grading.criteria import Between, Criterion, Domain, Instrument, Is

#: Shown on every positive screen.
CONSIDER = (
    "consider IEC-HS (criteria unconfirmed; Hines 2023 tables not verified); differential: HLH "
    "related to the underlying autoimmune disease (Greco 2024)"
)
#: Shown on every screen result, whatever its status.
CAVEAT = (
    "IEC-HS criteria are UNCONFIRMED [U] (criteria.md section 4): recalled, not read in Hines 2023. "
    "A screen to prompt clinical review, not a diagnosis or a grade."
)
#: Part of the recalled definition that labs cannot check.
TIMING = (
    "Not checked from labs: IEC-HS typically arises as CRS resolves or after CRS resolution, and "
    "must not be attributable to another process (infection, disease flare, HLH of the underlying "
    "autoimmune disease)."
)
CITATION = (
    "Hines 2023 Transplant Cell Ther, PMID 36906275, criteria recalled (tables not read); "
    "criteria.md section 4"
)
VERIFY = "UNCONFIRMED [U]: verify against the Hines 2023 tables."

FERRITIN = "ferritin"
CYTOPENIA = "cytopenia"
COAGULOPATHY = "coagulopathy"
TRANSAMINASES = "transaminases"
#: Components of which at least one must accompany the ferritin criterion.
ACCOMPANYING = (CYTOPENIA, COAGULOPATHY, TRANSAMINASES)

#: Fields the rows read (computed per sample by grading.cytopenia.screen_iec_hs).
FERRITIN_X_ULN = "ferritin_x_uln"
FERRITIN_X_BASELINE = "ferritin_x_baseline"
FERRITIN_RISING = "ferritin_rising_rapidly"
ANC = "anc_cells_ul"
ANC_NEW = "anc_new_since_infusion"
PLT = "platelets_10e9_l"
PLT_NEW = "platelets_new_since_infusion"
CTCAE_RISING = "ctcae_cytopenia_grade_rising"
FIBRINOGEN = "fibrinogen_mg_dl"
ALT_X_ULN = "alt_x_uln"
AST_X_ULN = "ast_x_uln"

#: Cut-offs of a new cytopenia after infusion [U].
NEW_ANC_BELOW_CELLS_UL = 1000.0
NEW_PLATELETS_BELOW_10E9_L = 50.0

DOMAINS = (
    Domain(
        FERRITIN,
        "Hyperferritinaemia (required)",
        (FERRITIN_X_ULN, FERRITIN_X_BASELINE, FERRITIN_RISING),
    ),
    Domain(CYTOPENIA, "New or worsening cytopenia", (ANC, ANC_NEW, PLT, PLT_NEW, CTCAE_RISING)),
    Domain(COAGULOPATHY, "Coagulopathy with hypofibrinogenaemia", (FIBRINOGEN,)),
    Domain(TRANSAMINASES, "Hepatic transaminase elevation", (ALT_X_ULN, AST_X_ULN)),
)

# Grade 1 on these rows means "component present"; IEC-HS is not graded here.
CRITERIA = (
    Criterion(
        "IECHS-FERRITIN-ULN",
        FERRITIN,
        1,
        (Between(FERRITIN_X_ULN, 2, None, "x ULN", low_inclusive=False),),
        "ferritin >2 × ULN",
        CITATION,
        "U",
        "Strictly above twice the ULN of the site policy: exactly 2 x ULN does not fire. "
        f"The ULN default is itself [U]. {VERIFY}",
    ),
    Criterion(
        "IECHS-FERRITIN-BASELINE",
        FERRITIN,
        1,
        (Between(FERRITIN_X_BASELINE, 2, None, "x baseline", low_inclusive=False),),
        "ferritin >2 × baseline (at infusion)",
        CITATION,
        "U",
        "Baseline: the last ferritin collected before the infusion. Without one, this criterion "
        f"is not assessed (listed as missing). {VERIFY}",
    ),
    Criterion(
        "IECHS-FERRITIN-RISING",
        FERRITIN,
        1,
        (Is(FERRITIN_RISING, (True,)),),
        "and/or rapidly rising",
        CITATION,
        "U",
        "'Rapidly rising' is not defined in what was read: the site policy defines it (default: "
        f"at least doubling within 48 h). {VERIFY}",
    ),
    Criterion(
        "IECHS-CYTOPENIA-ANC",
        CYTOPENIA,
        1,
        (
            Between(ANC, None, NEW_ANC_BELOW_CELLS_UL, "cells/uL", high_inclusive=False),
            Is(ANC_NEW, (True,)),
        ),
        "new/worsening cytopenias",
        CITATION,
        "U",
        "ANC < 1000 cells/uL after the infusion, not already below 1000 on the last value before "
        "it (engineering reading). Cytopenia after lymphodepletion is expected in the first days "
        f"and confounds this component. {VERIFY}",
    ),
    Criterion(
        "IECHS-CYTOPENIA-PLT",
        CYTOPENIA,
        1,
        (
            Between(PLT, None, NEW_PLATELETS_BELOW_10E9_L, "10^9/L", high_inclusive=False),
            Is(PLT_NEW, (True,)),
        ),
        "new/worsening cytopenias",
        CITATION,
        "U",
        "Platelets < 50 x10^9/L after the infusion, not already below 50 on the last value before "
        f"it (engineering reading). {VERIFY}",
    ),
    Criterion(
        "IECHS-CYTOPENIA-WORSENING",
        CYTOPENIA,
        1,
        (Is(CTCAE_RISING, (True,)),),
        "new/worsening cytopenias",
        CITATION,
        "U",
        "A CTCAE v5.0 grade (neutrophils, platelets, anemia; itself [U]) higher than the grade of "
        f"the previous sample of the same analyte. {VERIFY}",
    ),
    Criterion(
        "IECHS-FIBRINOGEN",
        COAGULOPATHY,
        1,
        (Between(FIBRINOGEN, None, 150, "mg/dL", high_inclusive=False),),
        "coagulopathy (fibrinogen <150 mg/dL)",
        CITATION,
        "U",
        f"150 mg/dL (1.5 g/L) itself does not fire; 149 does. {VERIFY}",
    ),
    Criterion(
        "IECHS-ALT",
        TRANSAMINASES,
        1,
        (Between(ALT_X_ULN, 3, None, "x ULN", low_inclusive=False),),
        "hepatic transaminase elevation",
        CITATION,
        "U",
        "ALT strictly above 3 x the ULN of the site policy: the multiple 3 is an engineering "
        f"reading of 'transaminitis' [U]. {VERIFY}",
    ),
    Criterion(
        "IECHS-AST",
        TRANSAMINASES,
        1,
        (Between(AST_X_ULN, 3, None, "x ULN", low_inclusive=False),),
        "hepatic transaminase elevation",
        CITATION,
        "U",
        "AST strictly above 3 x the ULN of the site policy: the multiple 3 is an engineering "
        f"reading of 'transaminitis' [U]. {VERIFY}",
    ),
)

INSTRUMENT = Instrument(
    key="iec_hs_screen",
    name="Consider-IEC-HS screen (Hines 2023 criteria as recalled), UNCONFIRMED",
    version="2023",
    reference="Hines MR, et al. Transplant Cell Ther 2023. PMID 36906275. Criteria [U]: recalled, "
    "tables not verified",
    domains=DOMAINS,
    criteria=CRITERIA,
    reviewed="Engineering transcription of criteria.md section 4 (2026-11-24), evidence U "
    "throughout; medical-monitor review pending",
)
