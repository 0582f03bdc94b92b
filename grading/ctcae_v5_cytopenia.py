"""CTCAE v5.0 grades of three cytopenias, as data: neutrophils, platelets and haemoglobin.

Source: National Cancer Institute. Common Terminology Criteria for Adverse Events (CTCAE) Version 5.0,
27 November 2017. Terms "Neutrophil count decreased" and "Platelet count decreased" (SOC
Investigations) and "Anemia" (SOC Blood and lymphatic system disorders).

EVIDENCE [U]: these rows are NOT in criteria.md. They are CTCAE v5.0 (NCI, 2017) as transcribed by
engineering; verify every row against the CTCAE v5.0 document before any alert depends on it.

| Term (canonical unit)                 | Grade 1     | Grade 2      | Grade 3                 | Grade 4 |
|---------------------------------------|-------------|--------------|-------------------------|---------|
| Neutrophil count decreased (cells/uL) | <LLN - 1500 | <1500 - 1000 | <1000 - 500             | <500    |
| Platelet count decreased (10^9/L)     | <LLN - 75.0 | <75.0 - 50.0 | <50.0 - 25.0            | <25.0   |
| Anemia, haemoglobin (g/dL)            | <LLN - 10.0 | <10.0 - 8.0  | <8.0; transfusion ind.  | clinical|

Reading the bands: "<1500 - 1000" means 1000 <= ANC < 1500; so ANC exactly 1500 is grade 1 when it is
below the LLN (grade 0 otherwise), 1000 is grade 2, 500 is grade 3 and 499 is grade 4. A value at or
above the LLN is no adverse event (grade 0). The LLN belongs to the lab, not to CTCAE: it comes from
the site policy (:class:`grading.cytopenia.CytopeniaPolicy`), and the table reads it as the boolean
field ``*_below_lln`` so that the rows stay the same for every site.

Anemia grade 4 is "Life-threatening consequences; urgent intervention indicated": a clinical judgement,
never assigned from a haemoglobin value. A value below 8.0 g/dL is graded 3 and the result says that
grade 4 needs a clinical assessment. Grade 5 (death) is not graded here.

Reviewed-by: not yet reviewed by a trial medical monitor (engineering transcription of CTCAE v5.0,
2026-11-24).
"""

from __future__ import annotations

from grading.criteria import Between, Criterion, Domain, Instrument, Is

CITATION = "NCI CTCAE v5.0 (27 Nov 2017)"
VERIFY = (
    "CTCAE v5.0 (NCI, 2017) as transcribed; not confirmed in criteria.md — verify against the "
    "CTCAE v5.0 document."
)

NEUTROPHILS = "neutrophil_count_decreased"
PLATELETS = "platelet_count_decreased"
ANEMIA = "anemia"

#: CTCAE v5.0 term for each domain, as NCI spells it.
TERMS = {
    NEUTROPHILS: "Neutrophil count decreased",
    PLATELETS: "Platelet count decreased",
    ANEMIA: "Anemia",
}

#: Fields the rows read: the value in its canonical unit, and whether it is below the lab's LLN.
ANC = "anc_cells_ul"
ANC_BELOW_LLN = "anc_below_lln"
PLT = "platelets_10e9_l"
PLT_BELOW_LLN = "platelets_below_lln"
HB = "hemoglobin_g_dl"
HB_BELOW_LLN = "hemoglobin_below_lln"

#: Anemia grade 4 cannot come from a number; said on every anemia result graded 3.
ANEMIA_GRADE_4_TEXT = (
    "Anemia grade 4 ('Life-threatening consequences; urgent intervention indicated') is a clinical "
    "judgement and is never assigned from haemoglobin alone: grade 3 from the value, assess grade 4 "
    "clinically."
)

DOMAINS = (
    Domain(NEUTROPHILS, "Neutrophil count decreased (ANC, cells/uL)", (ANC, ANC_BELOW_LLN)),
    Domain(PLATELETS, "Platelet count decreased (10^9/L)", (PLT, PLT_BELOW_LLN)),
    Domain(ANEMIA, "Anemia (haemoglobin, g/dL)", (HB, HB_BELOW_LLN)),
)

_NOT_AE = "Not below the lab's lower limit of normal (LLN): no adverse event"
_G0_NOTE = f"Grade 0: at or above the LLN set in the site policy. {VERIFY}"
_NEUT = f"{CITATION}, Investigations: Neutrophil count decreased"
_PLT = f"{CITATION}, Investigations: Platelet count decreased"
_ANEMIA = f"{CITATION}, Blood and lymphatic system disorders: Anemia"

CRITERIA = (
    # Neutrophil count decreased, ANC in cells/uL.
    Criterion(
        "CTCAE5-NEUT-0",
        NEUTROPHILS,
        0,
        (Between(ANC, 1500, None, "cells/uL"), Is(ANC_BELOW_LLN, (False,))),
        _NOT_AE,
        _NEUT,
        "U",
        _G0_NOTE,
    ),
    Criterion(
        "CTCAE5-NEUT-1",
        NEUTROPHILS,
        1,
        (Between(ANC, 1500, None, "cells/uL"), Is(ANC_BELOW_LLN, (True,))),
        "<LLN - 1500/mm3; <LLN - 1.5 x 10e9 /L",
        _NEUT,
        "U",
        f"1500 <= ANC < LLN: 1500 itself is grade 1 when below the LLN. {VERIFY}",
    ),
    Criterion(
        "CTCAE5-NEUT-2",
        NEUTROPHILS,
        2,
        (Between(ANC, 1000, 1500, "cells/uL", high_inclusive=False),),
        "<1500 - 1000/mm3; <1.5 - 1.0 x 10e9 /L",
        _NEUT,
        "U",
        f"1000 <= ANC < 1500, whatever the LLN: 1000 itself is grade 2. {VERIFY}",
    ),
    Criterion(
        "CTCAE5-NEUT-3",
        NEUTROPHILS,
        3,
        (Between(ANC, 500, 1000, "cells/uL", high_inclusive=False),),
        "<1000 - 500/mm3; <1.0 - 0.5 x 10e9 /L",
        _NEUT,
        "U",
        f"500 <= ANC < 1000: 500 itself is grade 3. {VERIFY}",
    ),
    Criterion(
        "CTCAE5-NEUT-4",
        NEUTROPHILS,
        4,
        (Between(ANC, None, 500, "cells/uL", high_inclusive=False),),
        "<500/mm3; <0.5 x 10e9 /L",
        _NEUT,
        "U",
        f"ANC < 500. {VERIFY}",
    ),
    # Platelet count decreased, 10^9/L.
    Criterion(
        "CTCAE5-PLT-0",
        PLATELETS,
        0,
        (Between(PLT, 75.0, None, "10^9/L"), Is(PLT_BELOW_LLN, (False,))),
        _NOT_AE,
        _PLT,
        "U",
        _G0_NOTE,
    ),
    Criterion(
        "CTCAE5-PLT-1",
        PLATELETS,
        1,
        (Between(PLT, 75.0, None, "10^9/L"), Is(PLT_BELOW_LLN, (True,))),
        "<LLN - 75,000/mm3; <LLN - 75.0 x 10e9 /L",
        _PLT,
        "U",
        f"75.0 <= platelets < LLN. {VERIFY}",
    ),
    Criterion(
        "CTCAE5-PLT-2",
        PLATELETS,
        2,
        (Between(PLT, 50.0, 75.0, "10^9/L", high_inclusive=False),),
        "<75,000 - 50,000/mm3; <75.0 - 50.0 x 10e9 /L",
        _PLT,
        "U",
        f"50.0 <= platelets < 75.0, whatever the LLN. {VERIFY}",
    ),
    Criterion(
        "CTCAE5-PLT-3",
        PLATELETS,
        3,
        (Between(PLT, 25.0, 50.0, "10^9/L", high_inclusive=False),),
        "<50,000 - 25,000/mm3; <50.0 - 25.0 x 10e9 /L",
        _PLT,
        "U",
        f"25.0 <= platelets < 50.0. {VERIFY}",
    ),
    Criterion(
        "CTCAE5-PLT-4",
        PLATELETS,
        4,
        (Between(PLT, None, 25.0, "10^9/L", high_inclusive=False),),
        "<25,000/mm3; <25.0 x 10e9 /L",
        _PLT,
        "U",
        f"Platelets < 25.0. {VERIFY}",
    ),
    # Anemia, haemoglobin in g/dL. No grade 4 row: grade 4 is clinical (ANEMIA_GRADE_4_TEXT).
    Criterion(
        "CTCAE5-ANEMIA-0",
        ANEMIA,
        0,
        (Between(HB, 10.0, None, "g/dL"), Is(HB_BELOW_LLN, (False,))),
        _NOT_AE,
        _ANEMIA,
        "U",
        _G0_NOTE,
    ),
    Criterion(
        "CTCAE5-ANEMIA-1",
        ANEMIA,
        1,
        (Between(HB, 10.0, None, "g/dL"), Is(HB_BELOW_LLN, (True,))),
        "Hemoglobin (Hgb) <LLN - 10.0 g/dL; <LLN - 6.2 mmol/L; <LLN - 100 g/L",
        _ANEMIA,
        "U",
        f"10.0 <= Hb < LLN (the LLN depends on sex, site policy). {VERIFY}",
    ),
    Criterion(
        "CTCAE5-ANEMIA-2",
        ANEMIA,
        2,
        (Between(HB, 8.0, 10.0, "g/dL", high_inclusive=False),),
        "Hgb <10.0 - 8.0 g/dL; <6.2 - 4.9 mmol/L; <100 - 80g/L",
        _ANEMIA,
        "U",
        "8.0 <= Hb < 10.0 g/dL: 8.0 itself is grade 2. CTCAE's mmol/L bands are rounded "
        "(6.2 mmol/L = 9.99 g/dL at 1.611): values are graded in g/dL after conversion. "
        f"{VERIFY}",
    ),
    Criterion(
        "CTCAE5-ANEMIA-3",
        ANEMIA,
        3,
        (Between(HB, None, 8.0, "g/dL", high_inclusive=False),),
        "Hgb <8.0 g/dL; <4.9 mmol/L; <80 g/L; transfusion indicated",
        _ANEMIA,
        "U",
        f"Hb < 8.0 g/dL. The highest grade a value can give. {ANEMIA_GRADE_4_TEXT} {VERIFY}",
    ),
)

INSTRUMENT = Instrument(
    key="ctcae_v5_cytopenia",
    name="CTCAE v5.0 cytopenias (neutrophils, platelets, anemia)",
    version="5.0",
    reference="National Cancer Institute. Common Terminology Criteria for Adverse Events (CTCAE) "
    "v5.0, 27 November 2017. [U] not in criteria.md; verify against the CTCAE v5.0 document",
    domains=DOMAINS,
    criteria=CRITERIA,
    reviewed="Engineering transcription of CTCAE v5.0 (2026-11-24), evidence U; "
    "medical-monitor review pending",
)
