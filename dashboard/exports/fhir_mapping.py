"""Code tables shared by the FHIR export and import: LOINC codes of the labs and vital signs
cartwatch stores, UCUM spellings of the store's units, and the local code systems and extensions
cartwatch defines where no standard code exists.

Sources of the codes (each table line repeats its tag):

- Lab LOINC codes: criteria.md §8.3, the rows tagged [C] only. The CD19 codes (8116-6, 8117-4)
  are [S] there, with one code list mapping 8116-6 to CD3: they are left out, so CD19 results
  leave with the local analyte code only (a site that has checked the codes adds them to the
  import mapping). Creatinine, ALT, AST and triglycerides are not in §8.3: local code only.
- Vital-sign LOINC codes: criteria.md §8.3 [C], and the FHIR R4 vital-signs profiles
  (hl7.org/fhir/R4/observation-vitalsigns.html; the core oxygen-saturation profile fixes 2708-6,
  hl7.org/fhir/StructureDefinition/oxygensat|4.0.1; the US Core pulse-oximetry profile carries
  59408-5 and 2708-6 together, hl7.org/fhir/us/core/STU5/Observation-oxygen-saturation). Units
  are the UCUM codes of those profiles: Cel, /min, mm[Hg], %.
- ASTCT CRS and ICANS grades: no LOINC code exists (criteria.md §8.3: "ICE score, CAPD, ASTCT
  CRS/ICANS grade: none found", [U]; a search of LOINC pages found none either), so they are
  coded in the local system :data:`ASTCT_SYSTEM`.
- AdverseEvent severity: the three codes of terminology.hl7.org/CodeSystem/adverse-event-severity
  (mild, moderate, severe). The grade-to-severity mapping follows the AE clinical-research R4
  backport IG (hl7.org/fhir/uv/ae-research-backport-ig, CodeSystem adverse-event-severity-or-
  grade-cs: 1 mild, 2 moderate, 3 severe, 4 life-threatening, 5 death); grades 4 and 5 have no
  code of their own in R4 and map to "severe". The exact ASTCT grade always travels in the
  :data:`GRADE_EXTENSION`, so nothing is lost.

FHIR version: the resources are built and validated with ``fhir.resources.R4B`` models. R4B
(4.3.0) is wire-compatible with R4 (4.0.1) for Patient, Observation, AdverseEvent and Bundle as
used here: no element used here changed between the two.
"""

from __future__ import annotations

from dataclasses import dataclass

from grading.records import Analyte
from grading.units import fold

LOINC_SYSTEM = "http://loinc.org"
UCUM_SYSTEM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
SEVERITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/adverse-event-severity"
OUTCOME_SYSTEM = "http://terminology.hl7.org/CodeSystem/adverse-event-outcome"
DATA_ABSENT_SYSTEM = "http://terminology.hl7.org/CodeSystem/data-absent-reason"

#: Local code systems and identifiers (documented in docs/exports.md, "FHIR").
PSEUDONYM_SYSTEM = "urn:cartwatch:pseudonym"
STUDY_ID_SYSTEM = "urn:cartwatch:study-id"
ANALYTE_SYSTEM = "urn:cartwatch:analyte"  # code = grading.records.Analyte value
ASTCT_SYSTEM = "urn:cartwatch:astct"  # crs, icans, crs-grade, icans-grade
#: Extensions on AdverseEvent (valueInteger / valueDateTime).
GRADE_EXTENSION = "urn:cartwatch:extension:astct-grade"
EPISODE_EXTENSION = "urn:cartwatch:extension:episode"
PEAK_EXTENSION = "urn:cartwatch:extension:peak-at"
RESOLVED_EXTENSION = "urn:cartwatch:extension:resolved-at"


@dataclass(frozen=True)
class Code:
    """One coding: system, code and display."""

    system: str
    code: str
    display: str

    @property
    def key(self) -> str:
        """``system|code``, the key of the import mapping table."""
        return f"{self.system}|{self.code}"

    def coding(self) -> dict[str, str]:
        return {"system": self.system, "code": self.code, "display": self.display}


def _loinc(code: str, display: str) -> Code:
    return Code(LOINC_SYSTEM, code, display)


#: LOINC of each analyte (criteria.md §8.3, [C] rows only).
LAB_LOINC: dict[Analyte, Code] = {
    Analyte.CRP: _loinc("1988-5", "C reactive protein [Mass/volume] in Serum or Plasma"),
    Analyte.FERRITIN: _loinc("2276-4", "Ferritin [Mass/volume] in Serum or Plasma"),
    Analyte.IL6: _loinc("26881-3", "Interleukin 6 [Mass/volume] in Serum or Plasma"),
    Analyte.FIBRINOGEN: _loinc("3255-7", "Fibrinogen [Mass/volume] in Platelet poor plasma"),
    Analyte.ANC: _loinc("751-8", "Neutrophils [#/volume] in Blood by Automated count"),
    Analyte.LYMPHOCYTES: _loinc("731-0", "Lymphocytes [#/volume] in Blood by Automated count"),
    Analyte.WBC: _loinc("6690-2", "Leukocytes [#/volume] in Blood by Automated count"),
    Analyte.PLATELETS: _loinc("777-3", "Platelets [#/volume] in Blood by Automated count"),
    Analyte.HEMOGLOBIN: _loinc("718-7", "Hemoglobin [Mass/volume] in Blood"),
    Analyte.IGG: _loinc("2465-3", "IgG [Mass/volume] in Serum or Plasma"),
    Analyte.LDH: _loinc("2532-0", "Lactate dehydrogenase [Enzymatic activity/volume]"),
}


def confirmed_loinc(analyte: Analyte, stored: str | None) -> Code | None:
    """The table's [C] LOINC code of ``analyte`` when the code ``stored`` with a result is that
    code; None for any other stored code (an [S] or [U] code such as the CD19 8116-6, or a code of
    another test) and for an analyte without a [C] code. A stored code is never passed through:
    only the codes of :data:`LAB_LOINC` leave as LOINC (criteria.md §8.3, [C] rows only)."""
    table = LAB_LOINC.get(analyte)
    if table is None or stored is None or stored.strip() != table.code:
        return None
    return table


def analyte_code(analyte: Analyte) -> Code:
    """The local code of an analyte (every analyte has one, with or without a LOINC code)."""
    return Code(ANALYTE_SYSTEM, analyte.value, analyte.value)


#: The store's unit spellings (folded, grading.units.fold) and their UCUM codes. A unit not
#: listed leaves with its text only (Quantity.unit, no system/code): never a guessed UCUM code.
UCUM: dict[str, str] = {
    "mg/l": "mg/L",
    "mg/dl": "mg/dL",
    "ng/ml": "ng/mL",
    "ug/l": "ug/L",
    "pg/ml": "pg/mL",
    "ng/l": "ng/L",
    "g/l": "g/L",
    "g/dl": "g/dL",
    "mmol/l": "mmol/L",
    "umol/l": "umol/L",
    "u/l": "U/L",
    "iu/l": "[IU]/L",
    "cells/ul": "{cells}/uL",
    "/ul": "/uL",
    "10^9/l": "10*9/L",
    "10^3/ul": "10*3/uL",
    "%": "%",
}
#: A UCUM code back to the store's spelling (the inverse of :data:`UCUM`, so a round trip keeps
#: the unit exactly as it was stored).
STORE_UNIT: dict[str, str] = {
    "mg/L": "mg/L",
    "mg/dL": "mg/dL",
    "ng/mL": "ng/mL",
    "ug/L": "ug/L",
    "pg/mL": "pg/mL",
    "ng/L": "ng/L",
    "g/L": "g/L",
    "g/dL": "g/dL",
    "mmol/L": "mmol/L",
    "umol/L": "umol/L",
    "U/L": "U/L",
    "[IU]/L": "IU/L",
    "{cells}/uL": "cells/uL",
    "/uL": "/uL",
    "10*9/L": "10^9/L",
    "10*3/uL": "10^3/uL",
    "%": "%",
}


def ucum_code(unit: str) -> str | None:
    """The UCUM code of a store unit, None when the spelling has no known UCUM code."""
    return UCUM.get(fold(unit))


@dataclass(frozen=True)
class Vital:
    """A vital sign of an assessment: its column, code, UCUM unit and accepted import units."""

    column: str
    code: Code
    unit: str  # UCUM code written on export
    accepted: tuple[str, ...]  # UCUM codes accepted on import ([degF] is converted)


#: The vital signs of an assessment (criteria.md §8.3 [C]; FHIR R4 vital-signs profiles).
VITALS: tuple[Vital, ...] = (
    Vital("temperature_c", _loinc("8310-5", "Body temperature"), "Cel", ("Cel", "[degF]")),
    Vital("heart_rate_bpm", _loinc("8867-4", "Heart rate"), "/min", ("/min", "{beats}/min")),
    Vital("systolic_bp_mmhg", _loinc("8480-6", "Systolic blood pressure"), "mm[Hg]", ("mm[Hg]",)),
    Vital("diastolic_bp_mmhg", _loinc("8462-4", "Diastolic blood pressure"), "mm[Hg]", ("mm[Hg]",)),
    Vital(
        "spo2_pct",
        _loinc("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
        "%",
        ("%",),
    ),
    Vital(
        "respiratory_rate_min",
        _loinc("9279-1", "Respiratory rate"),
        "/min",
        ("/min", "{breaths}/min"),
    ),
)
VITAL_BY_COLUMN = {vital.column: vital for vital in VITALS}
#: SpO2 carries 2708-6 beside 59408-5 (US Core pulse oximetry; the core oxygensat profile).
SPO2_ALSO = _loinc("2708-6", "Oxygen saturation in Arterial blood")
#: The blood-pressure panel: systolic and diastolic go in as its components (FHIR R4 bp profile).
BP_PANEL = _loinc("85354-9", "Blood pressure panel with all children optional")

CRS_GRADE = Code(ASTCT_SYSTEM, "crs-grade", "ASTCT 2019 CRS grade")
ICANS_GRADE = Code(ASTCT_SYSTEM, "icans-grade", "ASTCT 2019 ICANS grade")
SYNDROMES = {
    "CRS": Code(ASTCT_SYSTEM, "crs", "Cytokine release syndrome"),
    "ICANS": Code(ASTCT_SYSTEM, "icans", "Immune effector cell-associated neurotoxicity syndrome"),
}


def severity(grade: int) -> str:
    """adverse-event-severity code of an ASTCT grade (module docstring: 4 and 5 are severe)."""
    return "mild" if grade <= 1 else "moderate" if grade == 2 else "severe"


def default_codes() -> dict[str, str]:
    """The import mapping ``{system|code: target}``: every lab LOINC and local analyte code to its
    analyte, every vital-sign LOINC to its assessment column. A site adds its local codes."""
    codes = {code.key: analyte.value for analyte, code in LAB_LOINC.items()}
    codes |= {analyte_code(analyte).key: analyte.value for analyte in Analyte}
    codes |= {vital.code.key: vital.column for vital in VITALS}
    codes[SPO2_ALSO.key] = "spo2_pct"
    return codes
