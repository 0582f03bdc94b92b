"""The default escalation profile, "ASCO 2021" (criteria.md sections 6.1, 6.2, 6.5 and 6.6).

Santomasso BD, et al. Management of Immune-Related Adverse Events in Patients Treated With CAR T-Cell
Therapy: ASCO Guideline. J Clin Oncol 2021;39(35):3978-3992. doi:10.1200/JCO.21.01992.

A flag means "guideline-indicated at this grade", not "give another dose now": the tocilizumab dose
guard (:mod:`grading.escalation`) says when the dose limit is reached. The trial protocol and medical
monitor must confirm this profile before it drives alerts.
"""

from __future__ import annotations

from grading.policy import Policy

ASCO_T1 = "ASCO 2021 Table 1 (eguideline p.4-5)"
ASCO_T2 = "ASCO 2021 Table 2 (eguideline p.6-7)"

ASCO_2021 = Policy.model_validate(
    {
        "name": "ASCO 2021",
        "description": "Escalation flags after the ASCO 2021 guideline, criteria.md section 6.6.",
        "escalation": [
            {
                "rule_id": "TOCI-CRS-2",
                "action": "tocilizumab",
                "level": "indicated",
                "crs_at_least": 2,
                "recommendation": "Tocilizumab 8 mg/kg IV over 1 h (max 800 mg/dose); repeat every "
                "8 h as needed; max 3 doses in 24 h, 4 in total.",
                "source_text": "CRS G2: administer tocilizumab; G3/G4: tocilizumab as per G2 if "
                "maximum dose not reached within 24-hour period",
                "citation": ASCO_T1,
                "evidence": "C",
            },
            {
                "rule_id": "TOCI-CRS-1-ICANS",
                "action": "tocilizumab",
                "level": "indicated",
                "crs_at_least": 1,
                "icans_at_least": 1,
                "recommendation": "Tocilizumab 8 mg/kg IV over 1 h (max 800 mg/dose). Caution with "
                "repeated doses in ICANS: consider adding corticosteroids past the first dose.",
                "source_text": "With concurrent CRS: administer tocilizumab. Caution with repeated "
                "tocilizumab doses in patients with ICANS.",
                "citation": ASCO_T2,
                "evidence": "C",
            },
            {
                "rule_id": "TOCI-CRS-1-PERSISTENT",
                "action": "tocilizumab",
                "level": "consider",
                "crs_exactly": 1,
                "crs_grade_1_for_more_than_hours": 72,
                "recommendation": "Consider managing as grade 2 (tocilizumab) for persistent (>3 "
                "days) or refractory fever.",
                "source_text": "Persistent (>3 days) or refractory fever: consider managing as G2",
                "citation": ASCO_T1,
                "evidence": "C",
                "note": "72 h is a policy value; the duration comes from the course (onset of the "
                "grade 1 episode), not from one assessment.",
            },
            {
                "rule_id": "STEROID-CRS-3",
                "action": "corticosteroids",
                "level": "indicated",
                "crs_exactly": 3,
                "recommendation": "Dexamethasone 10 mg IV every 6 h, rapid taper on improvement "
                "(with tocilizumab if the maximum dose is not reached).",
                "source_text": "CRS G3: tocilizumab (if max not reached) plus dexamethasone 10 mg "
                "IV q6h, rapid taper on improvement",
                "citation": ASCO_T1,
                "evidence": "C",
            },
            {
                "rule_id": "STEROID-CRS-4",
                "action": "corticosteroids",
                "level": "indicated",
                "crs_at_least": 4,
                "recommendation": "Methylprednisolone 500 mg IV every 12 h for 3 days, then 250 mg "
                "q12h for 2 days, 125 mg q12h for 2 days, 60 mg q12h until CRS ≤ grade 1; if not "
                "improving, methylprednisolone 1000 mg IV twice daily or alternate therapy.",
                "source_text": "CRS G4: tocilizumab (if max not reached) plus methylprednisolone "
                "500 mg IV q12h x 3 d -> 250 mg q12h x 2 d -> 125 mg q12h x 2 d -> 60 mg q12h "
                "until CRS <=G1",
                "citation": ASCO_T1,
                "evidence": "C",
            },
            {
                "rule_id": "STEROID-ICANS-2",
                "action": "corticosteroids",
                "level": "indicated",
                "icans_at_least": 2,
                "recommendation": "Dexamethasone 10 mg IV every 6-12 h (or methylprednisolone 1 mg/kg "
                "IV every 12 h) until ≤ grade 1, then rapid taper. With concurrent CRS ASCO gives "
                "tocilizumab first and steroids if refractory past the first dose.",
                "source_text": "Patients with moderate to severe ICANS should be managed with "
                "corticosteroids and supportive care",
                "citation": "ASCO 2021 recommendation text (JCO abstract, PubMed 34724386); "
                f"{ASCO_T2}",
                "evidence": "C",
                "note": "DISAGREEMENT: ASCO Table 2 makes grade 2 steroids conditional ('consider "
                "... high-risk products or patients'). Default: indicated at ICANS >= 2; the trial "
                "protocol must confirm.",
            },
            {
                "rule_id": "ICU-CRS-3",
                "action": "icu",
                "level": "indicated",
                "crs_at_least": 3,
                "recommendation": "Admit to ICU.",
                "source_text": "CRS G3: Admit patient to ICU",
                "citation": ASCO_T1,
                "evidence": "C",
            },
            {
                "rule_id": "ICU-ICANS-3",
                "action": "icu",
                "level": "indicated",
                "icans_at_least": 3,
                "recommendation": "Transfer to ICU.",
                "source_text": "All G3 patients: Transfer patient to ICU",
                "citation": ASCO_T2,
                "evidence": "C",
            },
            {
                "rule_id": "ICU-ICANS-CRS-2",
                "action": "icu",
                "level": "consider",
                "crs_at_least": 2,
                "icans_at_least": 1,
                "recommendation": "Consider ICU transfer.",
                "source_text": "Consider transferring patient to ICU if ICANS associated with ≥G2 CRS",
                "citation": f"{ASCO_T2} G2 row",
                "evidence": "C",
            },
        ],
    }
)
