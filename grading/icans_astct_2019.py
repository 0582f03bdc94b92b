"""ASTCT 2019 consensus grading of ICANS (adults: ICE; children: CAPD), as data.

Source: Lee DW, et al. Biol Blood Marrow Transplant 2019;25(4):625-638 (adult and paediatric ICANS
tables); ASCO 2021 (Santomasso BD, et al. J Clin Oncol 2021;39:3978-3992) Table 2 and its footnotes.
Rows follow criteria.md section 2 (R-ICANS-1 to R-ICANS-7), which records where each was confirmed.

| Domain            | Grade 1               | Grade 2          | Grade 3                         | Grade 4 |
|-------------------|-----------------------|------------------|---------------------------------|---------|
| ICE score         | 7-9                   | 3-6              | 0-2                             | 0 (unarousable, unable to perform ICE) |
| CAPD (children)   | 1-8                   | 1-8              | >=9                             | unable to perform CAPD |
| Consciousness     | awakens spontaneously | awakens to voice | awakens only to tactile stimulus | unarousable, stupor or coma |
| Seizure           | -                     | -                | rapidly resolving, or EEG seizures resolving with intervention | prolonged >5 min or repetitive |
| Motor findings    | -                     | -                | -                               | deep focal motor weakness |
| Raised ICP/oedema | -                     | -                | focal/local oedema              | diffuse oedema, posturing, CN VI palsy, papilloedema, Cushing's triad |

Overall grade = the most severe domain (R-ICANS-1). Tremor, myoclonus (R-ICANS-4) and intracranial
haemorrhage (R-ICANS-5) are recorded but never raise the grade, so no row reads them.

Reviewed-by: not yet reviewed by a trial medical monitor (engineering transcription of criteria.md,
2026-11-24). Regenerate docs/criteria/ after any change: ``cartwatch docs``.
"""

from __future__ import annotations

from grading.criteria import Between, Criterion, Domain, Instrument, Is
from grading.enums import CerebralEdema, Consciousness, DeathAttribution, MotorWeakness, Seizure

ADULT = "Lee 2019 ASTCT adult ICANS table (PMC8403007 Table 4)"
CHILD = "Lee 2019 ASTCT paediatric ICANS table (mdedge summary)"
ASCO_T2 = "ASCO 2021 Table 2"
UNAROUSABLE = Is("consciousness", (Consciousness.UNAROUSABLE.value,))

DOMAINS = (
    Domain("ice", "ICE score (adults and children over 12)", ("ice_score", "consciousness")),
    Domain("capd", "CAPD score (children under 12)", ("capd_score", "consciousness")),
    Domain("consciousness", "Depressed level of consciousness", ("consciousness",)),
    Domain("seizure", "Seizure", ("seizure",)),
    Domain("motor", "Motor findings", ("motor_weakness",)),
    Domain("edema", "Elevated ICP / cerebral oedema", ("cerebral_edema",)),
    Domain("death", "Death due to ICANS", ("death_attributed_to",)),
)

CRITERIA = (
    # ICE score (criteria.md 2.1, 2.2; R-ICANS-2).
    Criterion(
        "ICANS-ICE-0",
        "ice",
        0,
        (Between("ice_score", 10, 10, "points"),),
        "ICE score 10: no impairment",
        "ASCO 2021 Table 2 footnote (ICE)",
        "C",
    ),
    Criterion(
        "ICANS-ICE-1",
        "ice",
        1,
        (Between("ice_score", 7, 9, "points"),),
        "ICE score 7-9",
        ADULT,
        "C",
    ),
    Criterion(
        "ICANS-ICE-2",
        "ice",
        2,
        (Between("ice_score", 3, 6, "points"),),
        "ICE score 3-6",
        ADULT,
        "C",
    ),
    Criterion(
        "ICANS-ICE-3",
        "ice",
        3,
        (Between("ice_score", 0, 2, "points"),),
        "ICE score 0-2. A patient with an ICE score of 0 may be classified as grade 3 ICANS "
        "if awake with global aphasia",
        f"{ADULT}, footnote **",
        "C",
        "ICE 0 in an awake patient is grade 3, not 4.",
    ),
    Criterion(
        "ICANS-ICE-4",
        "ice",
        4,
        (UNAROUSABLE,),
        "ICE score 0 (patient is unarousable and unable to perform ICE assessment)",
        f"{ADULT}, footnote **",
        "C",
        "Fires from consciousness alone: an unarousable patient cannot perform ICE.",
    ),
    # CAPD (criteria.md 2.3). CAPD 0 is grade 0 by default (DISAGREEMENT: mdedge '<9' would include 0).
    Criterion(
        "ICANS-CAPD-0",
        "capd",
        0,
        (Between("capd_score", 0, 0, "points"),),
        "CAPD 0: no delirium features",
        CHILD,
        "U",
        "The ASTCT grid is recalled as starting at 1 [U]; mdedge paraphrases grade 1 as "
        "'CAPD lower than 9' (DISAGREEMENT). Default: CAPD 0 contributes grade 0.",
    ),
    Criterion(
        "ICANS-CAPD-1",
        "capd",
        1,
        (Between("capd_score", 1, 8, "points"),),
        "CAPD score 1-8",
        CHILD,
        "U",
        "Grade 1 vs 2 with CAPD 1-8 is decided by the consciousness domain.",
    ),
    Criterion(
        "ICANS-CAPD-3",
        "capd",
        3,
        (Between("capd_score", 9, 32, "points"),),
        "A CAPD score of ≥9 is suggestive of delirium and should be considered Grade 3 ICANS",
        f"{ASCO_T2} footnote ¥; Traube 2014 cut point 9",
        "C",
    ),
    Criterion("ICANS-CAPD-4", "capd", 4, (UNAROUSABLE,), "Unable to perform CAPD", CHILD, "S"),
    # Depressed level of consciousness (R-ICANS-3, R-ICANS-7).
    Criterion(
        "ICANS-LOC-0",
        "consciousness",
        0,
        (Is("consciousness", (Consciousness.ALERT.value,)),),
        "no depressed level of consciousness",
        "ASCO 2021 Table 2 G1 row ('ICE score 7-9 with no depressed level of consciousness')",
        "C",
        "A fully alert patient contributes 0.",
    ),
    Criterion(
        "ICANS-LOC-1",
        "consciousness",
        1,
        (Is("consciousness", (Consciousness.AWAKENS_SPONTANEOUSLY.value,)),),
        "Depressed level of consciousness: awakens spontaneously",
        ADULT,
        "C",
        "Must not be attributable to another cause such as sedating medication.",
    ),
    Criterion(
        "ICANS-LOC-2",
        "consciousness",
        2,
        (Is("consciousness", (Consciousness.AWAKENS_TO_VOICE.value,)),),
        "Depressed level of consciousness: awakens to voice",
        ADULT,
        "C",
    ),
    Criterion(
        "ICANS-LOC-3",
        "consciousness",
        3,
        (Is("consciousness", (Consciousness.AWAKENS_TO_TACTILE.value,)),),
        "Depressed level of consciousness: awakens only to tactile stimulus",
        ADULT,
        "C",
    ),
    Criterion(
        "ICANS-LOC-4",
        "consciousness",
        4,
        (UNAROUSABLE,),
        "Patient is unarousable or requires vigorous or repetitive tactile stimuli to arouse; "
        "stupor or coma",
        ADULT,
        "C",
    ),
    # Seizure.
    Criterion(
        "ICANS-SEIZURE-0",
        "seizure",
        0,
        (Is("seizure", (Seizure.NONE.value,)),),
        "Seizure: N/A",
        ADULT,
        "C",
    ),
    Criterion(
        "ICANS-SEIZURE-3",
        "seizure",
        3,
        (Is("seizure", (Seizure.SELF_LIMITING.value, Seizure.RESOLVED_WITH_INTERVENTION.value)),),
        "Any clinical seizure focal or generalized that resolves rapidly or nonconvulsive "
        "seizures on EEG that resolve with intervention",
        ADULT,
        "C",
    ),
    Criterion(
        "ICANS-SEIZURE-4",
        "seizure",
        4,
        (Is("seizure", (Seizure.PROLONGED_OR_REPETITIVE.value,)),),
        "Life-threatening prolonged seizure (>5 min); or repetitive clinical or electrical "
        "seizures without return to baseline in between",
        ADULT,
        "C",
    ),
    # Motor findings.
    Criterion(
        "ICANS-MOTOR-0",
        "motor",
        0,
        (Is("motor_weakness", (MotorWeakness.NONE.value,)),),
        "Motor findings: N/A",
        ADULT,
        "C",
        "Tremor and myoclonus may be graded with CTCAE v5.0 but do not influence ICANS grade.",
    ),
    Criterion(
        "ICANS-MOTOR-4",
        "motor",
        4,
        (Is("motor_weakness", (MotorWeakness.DEEP_FOCAL.value,)),),
        "Deep focal motor weakness such as hemiparesis or paraparesis",
        ADULT,
        "C",
    ),
    # Elevated ICP / cerebral oedema.
    Criterion(
        "ICANS-EDEMA-0",
        "edema",
        0,
        (Is("cerebral_edema", (CerebralEdema.NONE.value,)),),
        "Elevated ICP/cerebral edema: N/A",
        ADULT,
        "C",
        "Intracranial haemorrhage is not an ICANS feature (grade it with CTCAE v5.0).",
    ),
    Criterion(
        "ICANS-EDEMA-3",
        "edema",
        3,
        (Is("cerebral_edema", (CerebralEdema.FOCAL.value,)),),
        "Focal/local edema on neuroimaging",
        ADULT,
        "C",
    ),
    Criterion(
        "ICANS-EDEMA-4",
        "edema",
        4,
        (Is("cerebral_edema", (CerebralEdema.DIFFUSE.value,)),),
        "Diffuse cerebral edema on neuroimaging; decerebrate or decorticate posturing; or "
        "cranial nerve VI palsy; or papilledema; or Cushing's triad",
        ADULT,
        "C",
    ),
    # Death (R-ICANS-6).
    Criterion(
        "ICANS-DEATH",
        "death",
        5,
        (Is("death_attributed_to", (DeathAttribution.ICANS.value,)),),
        "Grade 5: death due to ICANS with no other principal factor",
        "mdedge summary of Lee 2019",
        "S",
    ),
    Criterion(
        "ICANS-NO-DEATH",
        "death",
        0,
        (Is("death_attributed_to", (DeathAttribution.CRS.value, DeathAttribution.OTHER.value)),),
        "Death not due to ICANS is not grade 5",
        "mdedge summary of Lee 2019",
        "S",
    ),
)

INSTRUMENT = Instrument(
    key="icans_astct_2019",
    name="ASTCT 2019 consensus ICANS grading",
    version="2019",
    reference="Lee DW, et al. Biol Blood Marrow Transplant 2019;25(4):625-638. "
    "doi:10.1016/j.bbmt.2018.12.758; ASCO 2021 Table 2",
    domains=DOMAINS,
    criteria=CRITERIA,
    reviewed="Engineering transcription of criteria.md section 2 (2026-11-24); "
    "medical-monitor review pending",
)
