"""ASTCT 2019 consensus grading of cytokine release syndrome, as data.

Source: Lee DW, Santomasso BD, Locke FL, et al. ASTCT Consensus Grading for Cytokine Release Syndrome
and Neurologic Toxicity Associated with Immune Effector Cells. Biol Blood Marrow Transplant
2019;25(4):625-638. doi:10.1016/j.bbmt.2018.12.758. Rows follow criteria.md section 1 (R-CRS-1 to
R-CRS-6), which records where each was confirmed.

| Parameter   | Grade 1 | Grade 2                         | Grade 3                              | Grade 4          |
|-------------|---------|---------------------------------|--------------------------------------|------------------|
| Fever       | >=38.0  | >=38.0                          | >=38.0                               | >=38.0           |
| Hypotension | None    | Not requiring vasopressors      | One vasopressor +/- vasopressin      | Multiple (excl. vasopressin) |
| Hypoxia     | None    | LFNC (<=6 L/min) or blow-by     | HFNC (>6 L/min), facemask, NRB, Venturi | Positive pressure |

Grade = the more severe of hypotension and hypoxia, once fever is present or masked by antipyretic or
anti-cytokine therapy. Organ toxicities do not change the grade (R-CRS-6). Grade 5: death due to CRS.

Reviewed-by: not yet reviewed by a trial medical monitor (engineering transcription of criteria.md,
2026-11-24). Regenerate docs/criteria/ after any change: ``cartwatch docs``.
"""

from __future__ import annotations

from grading.criteria import Between, Blank, Criterion, Domain, Instrument, Is
from grading.enums import DeathAttribution, Hypotension, OxygenDevice

TABLE = "Lee 2019 ASTCT CRS table"
FOOTNOTES = "Lee 2019 CRS table footnotes, reproduced in PMC8021214 Table 1"
NASAL_CANNULA = (
    OxygenDevice.LOW_FLOW_NASAL_CANNULA.value,
    OxygenDevice.HIGH_FLOW_NASAL_CANNULA.value,
)

#: Policy choice under which a nasal cannula without a recorded flow is classified by its label.
DEVICE_LABEL_POLICY = "nasal_cannula_without_flow=device_label"

DOMAINS = (
    Domain("fever", "Fever (temperature ≥38.0 °C)", ("temperature_c",)),
    Domain(
        "masking",
        "Antipyretic or anti-cytokine therapy given after CRS onset",
        ("antipyretic_or_anticytokine_given",),
    ),
    Domain("hypotension", "Hypotension (graded by its treatment)", ("hypotension",)),
    Domain("hypoxia", "Hypoxia (graded by oxygen support)", ("oxygen_device", "oxygen_l_min")),
    Domain("death", "Death due to CRS", ("death_attributed_to",)),
)

CRITERIA = (
    # Fever gate (R-CRS-1): compare the recorded value; 37.95 is not >= 38.0 (no rounding up).
    Criterion(
        "CRS-FEVER",
        "fever",
        1,
        (Between("temperature_c", 38.0, None, "°C"),),
        "Fever (temp ≥38.0 °C) ... not attributable to any other cause",
        f"{TABLE}; {FOOTNOTES}; ASCO 2021 Table 1",
        "C",
        "Grade 1 when there is neither hypotension nor hypoxia. The value is compared as "
        "recorded, never rounded up (an implementation choice).",
    ),
    Criterion(
        "CRS-NO-FEVER",
        "fever",
        0,
        (Between("temperature_c", None, 38.0, "°C", high_inclusive=False),),
        "Fever is defined as temperature ≥38.0 °C",
        f"{TABLE}; {FOOTNOTES}",
        "C",
        "37.9 °C is not fever. Without fever and without masking therapy, hypotension or hypoxia "
        "is not CRS (consider sepsis, bleeding, cardiac causes).",
    ),
    # Masking (R-CRS-2; DISAGREEMENT: SITC names only tocilizumab or steroids, ASTCT default kept).
    Criterion(
        "CRS-MASKED",
        "masking",
        1,
        (Is("antipyretic_or_anticytokine_given", (True,)),),
        "In patients who have CRS then receive antipyretic or anticytokine therapy such as "
        "tocilizumab or steroids, fever is no longer required to grade subsequent CRS severity. "
        "In this case, CRS grading is driven by hypotension and/or hypoxia.",
        FOOTNOTES,
        "C",
        "Applies to a patient already diagnosed with CRS. SITC 2020 names only tocilizumab or "
        "steroids (DISAGREEMENT, minor); the broader ASTCT wording is followed.",
    ),
    Criterion(
        "CRS-NOT-MASKED",
        "masking",
        0,
        (Is("antipyretic_or_anticytokine_given", (False,)),),
        "Fever is required unless antipyretic or anticytokine therapy was given",
        FOOTNOTES,
        "C",
    ),
    # Hypotension (R-CRS-3): the treatment is graded; SBP is supporting data only.
    Criterion(
        "CRS-HYPOTENSION-0",
        "hypotension",
        0,
        (Is("hypotension", (Hypotension.NONE.value,)),),
        "Hypotension: None",
        TABLE,
        "C",
    ),
    Criterion(
        "CRS-HYPOTENSION-2",
        "hypotension",
        2,
        (Is("hypotension", (Hypotension.FLUID_RESPONSIVE.value,)),),
        "Hypotension not requiring vasopressors",
        TABLE,
        "C",
    ),
    Criterion(
        "CRS-HYPOTENSION-3",
        "hypotension",
        3,
        (
            Is(
                "hypotension",
                (
                    Hypotension.ONE_VASOPRESSOR.value,
                    Hypotension.ONE_VASOPRESSOR_PLUS_VASOPRESSIN.value,
                ),
            ),
        ),
        "Hypotension requiring a vasopressor with or without vasopressin",
        TABLE,
        "C",
        "Vasopressin added to one vasopressor never makes 'multiple' "
        "(norepinephrine + vasopressin = grade 3).",
    ),
    Criterion(
        "CRS-HYPOTENSION-4",
        "hypotension",
        4,
        (Is("hypotension", (Hypotension.MULTIPLE_VASOPRESSORS.value,)),),
        "Hypotension requiring multiple vasopressors (excluding vasopressin)",
        TABLE,
        "C",
        "For example norepinephrine + phenylephrine.",
    ),
    # Hypoxia (R-CRS-4): nasal cannula classified by the recorded flow, <= 6 vs > 6 L/min.
    Criterion(
        "CRS-HYPOXIA-0",
        "hypoxia",
        0,
        (Is("oxygen_device", (OxygenDevice.ROOM_AIR.value,)),),
        "Hypoxia: None",
        TABLE,
        "C",
        "Room air. SpO2 alone is never graded.",
    ),
    Criterion(
        "CRS-HYPOXIA-2-NASAL",
        "hypoxia",
        2,
        (
            Is("oxygen_device", NASAL_CANNULA),
            Between("oxygen_l_min", 0, 6, "L/min", low_inclusive=False),
        ),
        "Hypoxia requiring low-flow nasal cannula or blow-by. Low-flow nasal cannula is defined "
        "as oxygen delivered at ≤6 L/minute.",
        f"{TABLE}; {FOOTNOTES}",
        "C",
        "Classified by the recorded flow, not the device label: exactly 6 L/min is low-flow. "
        "A cannula at 0 L/min delivers no oxygen and is refused at input (record room air).",
    ),
    Criterion(
        "CRS-HYPOXIA-2-BLOWBY",
        "hypoxia",
        2,
        (Is("oxygen_device", (OxygenDevice.BLOW_BY.value,)),),
        "Hypoxia requiring low-flow nasal cannula or blow-by",
        TABLE,
        "C",
        "Blow-by is low-flow whatever the flow recorded.",
    ),
    Criterion(
        "CRS-HYPOXIA-2-LABEL",
        "hypoxia",
        2,
        (Is("oxygen_device", (OxygenDevice.LOW_FLOW_NASAL_CANNULA.value,)), Blank("oxygen_l_min")),
        "Hypoxia requiring low-flow nasal cannula",
        TABLE,
        "policy",
        "Only when the flow is not recorded, under the policy that trusts the device label "
        "(an implementation choice, criteria.md 1.2); the result says the flow is missing.",
        policy=DEVICE_LABEL_POLICY,
    ),
    Criterion(
        "CRS-HYPOXIA-3-NASAL",
        "hypoxia",
        3,
        (
            Is("oxygen_device", NASAL_CANNULA),
            Between("oxygen_l_min", 6, None, "L/min", low_inclusive=False),
        ),
        "Hypoxia requiring high-flow nasal cannula. High flow refers to delivery at >6 L/minute.",
        f"{TABLE}; {FOOTNOTES}",
        "C",
        "A 'low-flow' cannula run above 6 L/min is high-flow by ASTCT's definition.",
    ),
    Criterion(
        "CRS-HYPOXIA-3-MASK",
        "hypoxia",
        3,
        (
            Is(
                "oxygen_device",
                (
                    OxygenDevice.FACE_MASK.value,
                    OxygenDevice.NON_REBREATHER.value,
                    OxygenDevice.VENTURI.value,
                ),
            ),
        ),
        "Hypoxia requiring facemask, nonrebreather mask, or Venturi mask",
        TABLE,
        "C",
    ),
    Criterion(
        "CRS-HYPOXIA-3-LABEL",
        "hypoxia",
        3,
        (Is("oxygen_device", (OxygenDevice.HIGH_FLOW_NASAL_CANNULA.value,)), Blank("oxygen_l_min")),
        "Hypoxia requiring high-flow nasal cannula",
        TABLE,
        "policy",
        "Only when the flow is not recorded, under the policy that trusts the device label.",
        policy=DEVICE_LABEL_POLICY,
    ),
    Criterion(
        "CRS-HYPOXIA-4",
        "hypoxia",
        4,
        (
            Is(
                "oxygen_device",
                (
                    OxygenDevice.CPAP.value,
                    OxygenDevice.BIPAP.value,
                    OxygenDevice.MECHANICAL_VENTILATION.value,
                ),
            ),
        ),
        "Hypoxia requiring positive pressure (eg, CPAP, BiPAP, intubation and mechanical "
        "ventilation)",
        TABLE,
        "C",
    ),
    Criterion(
        "CRS-DEATH",
        "death",
        5,
        (Is("death_attributed_to", (DeathAttribution.CRS.value,)),),
        "Grade 5: death due to CRS",
        "SITC 2020 reproduction of the ASTCT table",
        "C",
        "'In which no other cause is the principal factor' is unverified wording [U].",
    ),
    Criterion(
        "CRS-NO-DEATH",
        "death",
        0,
        (Is("death_attributed_to", (DeathAttribution.ICANS.value, DeathAttribution.OTHER.value)),),
        "Death not due to CRS is not grade 5",
        "SITC 2020 reproduction of the ASTCT table",
        "C",
    ),
)

INSTRUMENT = Instrument(
    key="crs_astct_2019",
    name="ASTCT 2019 consensus CRS grading",
    version="2019",
    reference="Lee DW, et al. Biol Blood Marrow Transplant 2019;25(4):625-638. "
    "doi:10.1016/j.bbmt.2018.12.758",
    domains=DOMAINS,
    criteria=CRITERIA,
    reviewed="Engineering transcription of criteria.md section 1 (2026-11-24); "
    "medical-monitor review pending",
)
