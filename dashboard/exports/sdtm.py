"""CDISC SDTM-shaped datasets of a cohort: DM, AE (+ SUPPAE), LB and VS, as CSV and SAS XPT v5.

"SDTM-shaped", not a validated submission: the variables, their order, labels, types and
controlled terms follow the SDTM Implementation Guide (SDTMIG v3.4, CDISC 2021) where the store
holds the data; what the store cannot give (COUNTRY, MedDRA codes, trial-design datasets, define.xml)
is said in ``define_notes.md``, written beside the datasets.

Datasets (one CSV and one ``<domain>.xpt`` each; :data:`REQUIRED` lists the "Req" variables of each,
always present and in SDTM order):

- **DM** (SDTMIG 3.4 section 5.2): one row per patient. USUBJID = ``<STUDYID>-<pseudonym>``,
  SUBJID = pseudonym, RFSTDTC = RFXSTDTC = the CAR T infusion, ARM/ACTARM = the product,
  SEX per the CDISC SEX codelist (F, M, U), DTHFL/DTHDTC from the outcome events.
- **AE** (section 6.2): one row per CRS or ICANS **episode** (:mod:`grading.course`): AETERM,
  AEDECOD (MedDRA preferred term names), AETOXGR = the episode's highest ASTCT 2019 grade
  (**the grading scale is ASTCT 2019, not CTCAE**: SUPPAE says so on every record), AESER by a
  configurable :class:`SeriousnessRule`, AEOUT per the CDISC OUT codelist (:data:`OUTCOME_RULE`:
  UNKNOWN, never NOT RECOVERED/NOT RESOLVED, when follow-up ended without the event documented).
- **SUPPAE** (section 8.4): per AE, QNAM ``ASTCTGR`` (the ASTCT grade) and ``AETOXSCL``
  ("ASTCT 2019"), linked by IDVAR = AESEQ.
- **LB** (section 6.3): one row per lab result; LBTOXGR only where cartwatch grades the analyte
  with CTCAE v5.0 (:mod:`grading.ctcae_v5_cytopenia`: neutrophils, platelets, haemoglobin);
  blank for every other analyte, lymphocytes included (no CTCAE rows in the repository).
- **VS** (section 6.3): temperature, heart rate, blood pressure, SpO2 and respiratory rate of
  each assessment (VSTESTCD TEMP, HR, SYSBP, DIABP, OXYSAT, RESP).

**Dates.** Shifted mode: --DTC are ISO 8601 date-times, shifted per patient by
:func:`dashboard.exports.source.date_shift` (whole days, so calendar-day differences are kept).
Study-day mode: every --DTC (and RFSTDTC, DTHDTC) is **empty** and only --DY is given. Either way
--DY follows SDTMIG 3.4 section 4.4.4: ``--DY = date(--DTC) - date(RFSTDTC) + 1`` on or after
RFSTDTC, ``date(--DTC) - date(RFSTDTC)`` before it, so the infusion day is day 1, the day before
is -1 and there is no day 0 (cartwatch's own study day, in the tidy tables, counts the infusion
day as 0). To compute calendar days exactly, the tables are always read with shifted dates
(:func:`calendar_chunks`); in study-day mode the shifted date-times are used only for that and
never written.

**Streaming.** Chunks of patients are appended to the CSV files as they come (a patient's rows
are in one chunk, so --SEQ is numbered per chunk). SAS XPT has no append: each ``.xpt`` is written
from its finished CSV, one domain at a time, so the peak memory is that of the largest domain.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import pandas as pd
import pyreadstat
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine

from dashboard.exports.fhir_mapping import LAB_LOINC
from dashboard.exports.source import (
    DateMode,
    ExportRequest,
    Progress,
    export_chunks,
    export_key,
    export_manifest,
)
from dashboard.services.deidentify import manifest_comment
from dashboard.store.access import Actor
from grading.ctcae_v5_cytopenia import CITATION as CTCAE_CITATION
from grading.cytopenia import DEFAULT_POLICY, CytopeniaPolicy, ctcae_frame
from grading.records import Analyte, Product, Sex

SDTMIG = "CDISC SDTMIG v3.4 (2021)"

#: Variables whose Core is "Req" in SDTMIG v3.4 (section 5.2 DM, 6.2 AE, 6.3 LB and VS, 8.4
#: SUPP--): never absent, and never null except where :data:`UNFILLED_REQUIRED` says why.
REQUIRED: dict[str, tuple[str, ...]] = {
    "DM": ("STUDYID", "DOMAIN", "USUBJID", "SUBJID", "SITEID", "SEX", "COUNTRY"),
    "AE": ("STUDYID", "DOMAIN", "USUBJID", "AESEQ", "AETERM", "AEDECOD"),
    "SUPPAE": ("STUDYID", "RDOMAIN", "USUBJID", "QNAM", "QLABEL", "QVAL", "QORIG"),
    "LB": ("STUDYID", "DOMAIN", "USUBJID", "LBSEQ", "LBTESTCD", "LBTEST"),
    "VS": ("STUDYID", "DOMAIN", "USUBJID", "VSSEQ", "VSTESTCD", "VSTEST"),
}

#: Required variables the store cannot fill, and why (a conformance check will flag them).
UNFILLED_REQUIRED: dict[str, dict[str, str]] = {
    "DM": {
        "COUNTRY": "cartwatch does not record the country of a site; blank unless the export is "
        "given a site-to-country map (SdtmOptions.countries, ISO 3166-1 alpha-3)",
    },
}

#: Each dataset's variables, in SDTM order (SDTMIG v3.4 domain specifications).
VARIABLES: dict[str, tuple[str, ...]] = {
    "DM": (
        "STUDYID", "DOMAIN", "USUBJID", "SUBJID", "RFSTDTC", "RFXSTDTC", "DTHDTC", "DTHFL",
        "SITEID", "AGE", "AGEU", "SEX", "ARMCD", "ARM", "ACTARMCD", "ACTARM", "COUNTRY",
    ),
    "AE": (
        "STUDYID", "DOMAIN", "USUBJID", "AESEQ", "AESPID", "AETERM", "AEDECOD", "AEBODSYS",
        "AESER", "AEOUT", "AESDTH", "AETOXGR", "AESTDTC", "AEENDTC", "AESTDY", "AEENDY",
    ),
    "SUPPAE": (
        "STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QLABEL", "QVAL", "QORIG",
        "QEVAL",
    ),
    "LB": (
        "STUDYID", "DOMAIN", "USUBJID", "LBSEQ", "LBTESTCD", "LBTEST", "LBORRES", "LBORRESU",
        "LBSTRESC", "LBSTRESN", "LBSTRESU", "LBLOINC", "LBTOX", "LBTOXGR", "LBDTC", "LBDY",
    ),
    "VS": (
        "STUDYID", "DOMAIN", "USUBJID", "VSSEQ", "VSTESTCD", "VSTEST", "VSORRES", "VSORRESU",
        "VSSTRESC", "VSSTRESN", "VSSTRESU", "VSLOINC", "VSDTC", "VSDY",
    ),
}  # fmt: skip
DOMAINS = tuple(VARIABLES)

#: Numeric variables (SAS numeric); every other variable is character. Whole-number ones are
#: written to CSV without a decimal point.
INTEGER = frozenset({"AESEQ", "AESTDY", "AEENDY", "LBSEQ", "LBDY", "VSSEQ", "VSDY"})
NUMERIC = INTEGER | {"AGE", "LBSTRESN", "VSSTRESN"}

#: Dataset labels (SDTMIG v3.4).
DATASET_LABELS = {
    "DM": "Demographics",
    "AE": "Adverse Events",
    "SUPPAE": "Supplemental Qualifiers for AE",
    "LB": "Laboratory Test Results",
    "VS": "Vital Signs",
}

#: Variable labels (SDTMIG v3.4; at most 40 characters, as SAS XPT v5 allows).
LABELS: dict[str, str] = {
    "STUDYID": "Study Identifier",
    "DOMAIN": "Domain Abbreviation",
    "USUBJID": "Unique Subject Identifier",
    "SUBJID": "Subject Identifier for the Study",
    "RFSTDTC": "Subject Reference Start Date/Time",
    "RFXSTDTC": "Date/Time of First Study Treatment",
    "DTHDTC": "Date/Time of Death",
    "DTHFL": "Subject Death Flag",
    "SITEID": "Study Site Identifier",
    "AGE": "Age",
    "AGEU": "Age Units",
    "SEX": "Sex",
    "ARMCD": "Planned Arm Code",
    "ARM": "Description of Planned Arm",
    "ACTARMCD": "Actual Arm Code",
    "ACTARM": "Description of Actual Arm",
    "COUNTRY": "Country",
    "AESEQ": "Sequence Number",
    "AESPID": "Sponsor-Defined Identifier",
    "AETERM": "Reported Term for the Adverse Event",
    "AEDECOD": "Dictionary-Derived Term",
    "AEBODSYS": "Body System or Organ Class",
    "AESER": "Serious Event",
    "AEOUT": "Outcome of Adverse Event",
    "AESDTH": "Results in Death",
    "AETOXGR": "Standard Toxicity Grade",
    "AESTDTC": "Start Date/Time of Adverse Event",
    "AEENDTC": "End Date/Time of Adverse Event",
    "AESTDY": "Study Day of Start of Adverse Event",
    "AEENDY": "Study Day of End of Adverse Event",
    "RDOMAIN": "Related Domain Abbreviation",
    "IDVAR": "Identifying Variable",
    "IDVARVAL": "Identifying Variable Value",
    "QNAM": "Qualifier Variable Name",
    "QLABEL": "Qualifier Variable Label",
    "QVAL": "Data Value",
    "QORIG": "Origin",
    "QEVAL": "Evaluator",
    "LBSEQ": "Sequence Number",
    "LBTESTCD": "Lab Test or Examination Short Name",
    "LBTEST": "Lab Test or Examination Name",
    "LBORRES": "Result or Finding in Original Units",
    "LBORRESU": "Original Units",
    "LBSTRESC": "Character Result/Finding in Std Format",
    "LBSTRESN": "Numeric Result/Finding in Standard Units",
    "LBSTRESU": "Standard Units",
    "LBLOINC": "LOINC Code",
    "LBTOX": "Toxicity",
    "LBTOXGR": "Standard Toxicity Grade",
    "LBDTC": "Date/Time of Specimen Collection",
    "LBDY": "Study Day of Specimen Collection",
    "VSSEQ": "Sequence Number",
    "VSTESTCD": "Vital Signs Test Short Name",
    "VSTEST": "Vital Signs Test Name",
    "VSORRES": "Result or Finding in Original Units",
    "VSORRESU": "Original Units",
    "VSSTRESC": "Character Result/Finding in Std Format",
    "VSSTRESN": "Numeric Result/Finding in Standard Units",
    "VSSTRESU": "Standard Units",
    "VSLOINC": "LOINC Code",
    "VSDTC": "Date/Time of Measurements",
    "VSDY": "Study Day of Vital Signs",
}

#: CDISC SEX codelist (C66731) for cartwatch's sex. "other" has no term of its own in the
#: codelist (UNDIFFERENTIATED means something else), so it leaves as U, like an unrecorded sex.
SEX_CT = {Sex.FEMALE.value: "F", Sex.MALE.value: "M", Sex.OTHER.value: "U"}

#: Arm description per product (ARMCD is the product's code in upper case, at most 20 characters).
ARMS = {
    Product.CD19_CAR_T.value: "CD19 CAR T",
    Product.CD19_BCMA_CAR_T.value: "CD19-BCMA CAR T",
    Product.DSG3_CAAR_T.value: "DSG3-CAART",
    Product.MUSK_CAAR_T.value: "MuSK-CAART",
    Product.CAR_TREG.value: "CAR-Treg",
}


@dataclass(frozen=True)
class AdverseEventTerm:
    """How one syndrome leaves as an AE: reported term, MedDRA PT name and primary SOC name.

    Evidence [U]: MedDRA is licensed and not in this repository; the PT and SOC names are the
    commonly published ones (ICANS became a PT in MedDRA 23.0, 2020, as recalled). No MedDRA codes
    are given: a coder must confirm terms and version before a submission.
    """

    aeterm: str
    aedecod: str
    aebodsys: str


AE_TERMS = {
    "CRS": AdverseEventTerm(
        "Cytokine release syndrome", "Cytokine release syndrome", "Immune system disorders"
    ),
    "ICANS": AdverseEventTerm(
        "Immune effector cell-associated neurotoxicity syndrome",
        "Immune effector cell-associated neurotoxicity syndrome",
        "Nervous system disorders",
    ),
}

#: CDISC OUT codelist (C66768) terms used.
RECOVERED = "RECOVERED/RESOLVED"
NOT_RECOVERED = "NOT RECOVERED/NOT RESOLVED"
UNKNOWN_OUTCOME = "UNKNOWN"
FATAL = "FATAL"
#: How an episode without a documented resolution leaves (docs/exports.md, SDTM "AE").
OUTCOME_RULE = (
    "FATAL when the highest grade is 5; RECOVERED/RESOLVED when the episode resolved; NOT "
    "RECOVERED/NOT RESOLVED when it did not and the patient's last assessment, on the last day "
    "with any record of the patient, still graded the syndrome >= 1; UNKNOWN otherwise "
    "(follow-up ended, or went on, without the event documented at its end: last assessment "
    "graded 0 before the resolution rule was met, not gradable, or followed by later records)"
)

#: The grading scale behind AETOXGR, said on every SUPPAE record.
TOXICITY_SCALE = "ASTCT 2019"
ASTCT_REFERENCE = (
    "Lee DW et al. ASTCT consensus grading for CRS and neurologic toxicity associated with "
    "immune effector cells. Biol Blood Marrow Transplant 2019;25(4):625-638 (criteria.md 1, 2)"
)


@dataclass(frozen=True)
class LabTest:
    """An analyte as an LB test: CDISC LBTESTCD/LBTEST and the standard unit's CDISC spelling.

    Evidence [U]: recalled from the CDISC SDTM controlled terminology (LBTESTCD C65047, LBTEST
    C67154, UNIT C71620), not checked against the NCI EVS files, which are not in this repository.
    """

    testcd: str
    test: str
    unit: str  # the canonical unit of grading.units, spelled as the CDISC UNIT codelist does


LAB_TESTS: dict[str, LabTest] = {
    Analyte.CRP.value: LabTest("CRP", "C Reactive Protein", "mg/L"),
    Analyte.FERRITIN.value: LabTest("FERRITIN", "Ferritin", "ng/mL"),
    Analyte.IL6.value: LabTest("IL6", "Interleukin 6", "pg/mL"),
    Analyte.FIBRINOGEN.value: LabTest("FIBRINO", "Fibrinogen", "mg/dL"),
    Analyte.IGG.value: LabTest("IGG", "Immunoglobulin G", "mg/dL"),
    Analyte.ANC.value: LabTest("NEUT", "Neutrophils", "/uL"),
    Analyte.LYMPHOCYTES.value: LabTest("LYM", "Lymphocytes", "/uL"),
    Analyte.WBC.value: LabTest("WBC", "Leukocytes", "/uL"),
    Analyte.PLATELETS.value: LabTest("PLAT", "Platelets", "10^9/L"),
    Analyte.HEMOGLOBIN.value: LabTest("HGB", "Hemoglobin", "g/dL"),
    Analyte.LDH.value: LabTest("LDH", "Lactate Dehydrogenase", "U/L"),
    Analyte.ALT.value: LabTest("ALT", "Alanine Aminotransferase", "U/L"),
    Analyte.AST.value: LabTest("AST", "Aspartate Aminotransferase", "U/L"),
    Analyte.TRIGLYCERIDES.value: LabTest("TRIG", "Triglycerides", "mg/dL"),
    Analyte.CREATININE.value: LabTest("CREAT", "Creatinine", "mg/dL"),
    Analyte.CD19_ABSOLUTE.value: LabTest("CD19", "CD19 Cells", "/uL"),
    Analyte.CD19_PERCENT.value: LabTest("CD19LY", "CD19 Cells/Lymphocytes", "%"),
}

#: Analytes with a CTCAE v5.0 grade (LBTOXGR): the rows of grading.ctcae_v5_cytopenia only.
CTCAE_GRADED = (Analyte.ANC.value, Analyte.PLATELETS.value, Analyte.HEMOGLOBIN.value)


@dataclass(frozen=True)
class VitalSign:
    """A vital sign of the assessments as a VS test (CDISC VSTESTCD/VSTEST, unit, LOINC)."""

    column: str  # column of the assessments table
    testcd: str
    test: str
    unit: str  # CDISC UNIT spelling
    loinc: str  # criteria.md 8.3 [C]


VITAL_SIGNS = (
    VitalSign("temperature_c", "TEMP", "Temperature", "C", "8310-5"),
    VitalSign("heart_rate_bpm", "HR", "Heart Rate", "beats/min", "8867-4"),
    VitalSign("systolic_bp_mmhg", "SYSBP", "Systolic Blood Pressure", "mmHg", "8480-6"),
    VitalSign("diastolic_bp_mmhg", "DIABP", "Diastolic Blood Pressure", "mmHg", "8462-4"),
    VitalSign("spo2_pct", "OXYSAT", "Oxygen Saturation", "%", "59408-5"),
    VitalSign("respiratory_rate_min", "RESP", "Respiratory Rate", "breaths/min", "9279-1"),
)


class SeriousnessRule(BaseModel):
    """When an episode is exported as a serious adverse event (AESER = "Y").

    Seriousness is a regulatory judgement of the site and sponsor (ICH E2A: death, life-threatening,
    hospitalisation or its prolongation, disability, congenital anomaly, medically important), made
    per event. criteria.md says nothing about it [U], and the store records none of the ICH E2A
    criteria except death. This rule is a configurable proxy with a cautious default: an episode
    is serious when its highest ASTCT grade reaches ``min_grade`` (3: vasopressors, high-flow
    oxygen, ICU-level care per criteria.md 6.5) or when it was fatal (grade 5).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_grade: int = Field(3, ge=1, le=5, description="Lowest ASTCT grade exported as serious.")
    fatal_is_serious: bool = Field(True, description="A fatal episode (grade 5) is serious.")

    def serious(self, grade: pd.Series) -> pd.Series:
        """ "Y" or "N" per highest grade (a blank grade stays blank: not assessed)."""
        numeric = pd.to_numeric(grade, errors="coerce")
        fatal = (numeric == 5) if self.fatal_is_serious else pd.Series(False, index=grade.index)
        out = pd.Series("N", index=grade.index, dtype=object)
        out[(numeric >= self.min_grade) | fatal] = "Y"
        out[numeric.isna()] = ""
        return out

    def describe(self) -> str:
        fatal = " or fatal (grade 5)" if self.fatal_is_serious else ""
        return f"AESER = Y when the highest ASTCT grade is >= {self.min_grade}{fatal}, else N"


class SdtmOptions(BaseModel):
    """Study-level choices of an SDTM export (defaults suit the sample cohort)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    studyid: str = Field("CARTWATCH", min_length=1, max_length=20, pattern=r"^[A-Za-z0-9_-]+$")
    seriousness: SeriousnessRule = SeriousnessRule()
    cytopenia: CytopeniaPolicy = DEFAULT_POLICY
    countries: Mapping[str, str] = Field(
        default_factory=dict, description="Site id -> ISO 3166-1 alpha-3 country (DM.COUNTRY)."
    )


# --------------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------------


def sdtm_study_day(at: pd.Series, reference: pd.Series) -> pd.Series:
    """--DY per SDTMIG v3.4 section 4.4.4 from the date portions of ``at`` and RFSTDTC.

    ``date(at) - date(reference) + 1`` on or after the reference day, ``date(at) - date(reference)``
    before it: the reference (infusion) day is 1, the day before is -1, there is no day 0.
    Blank (<NA>) where either time is missing.
    """
    days = (pd.to_datetime(at).dt.normalize() - pd.to_datetime(reference).dt.normalize()).dt.days
    return days.where(days < 0, days + 1).astype("Int64")


def iso8601(at: pd.Series) -> pd.Series:
    """ISO 8601 date-times (``YYYY-MM-DDThh:mm:ss``); blank where missing."""
    return pd.to_datetime(at).dt.strftime("%Y-%m-%dT%H:%M:%S").fillna("").astype(object)


def _dtc(at: pd.Series, dates: DateMode) -> pd.Series:
    """--DTC: the shifted date-time in shifted mode, empty in study-day mode."""
    if dates is DateMode.SHIFTED:
        return iso8601(at)
    return pd.Series("", index=at.index, dtype=object)


def _text(values: pd.Series) -> pd.Series:
    """Numbers as result text (``37.2``, ``120``), blank where missing."""
    return values.map(lambda v: "" if pd.isna(v) else f"{float(v):.10g}").astype(object)


def _sequence(frame: pd.DataFrame, order: list[str]) -> pd.Series:
    """--SEQ: 1, 2, ... per USUBJID in ``order``."""
    ranked = frame.sort_values(["USUBJID", *order], kind="stable")
    return ranked.groupby("USUBJID", sort=False).cumcount().add(1).reindex(frame.index)


def _finish(domain: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The domain's variables in SDTM order, character blanks as "", sorted by subject and --SEQ."""
    out = pd.DataFrame(index=frame.index)
    for name in VARIABLES[domain]:
        column = frame[name] if name in frame.columns else pd.Series(pd.NA, index=frame.index)
        if name in NUMERIC:
            number = pd.to_numeric(column, errors="coerce")
            out[name] = (
                number.round().astype("Int64") if name in INTEGER else number.astype("Float64")
            )
        else:
            out[name] = column.astype(object).where(column.notna(), "").astype(str)
    if domain == "SUPPAE":
        order = out.assign(_seq=pd.to_numeric(out["IDVARVAL"], errors="coerce"))
        ranked = order.sort_values(["USUBJID", "_seq", "QNAM"], kind="stable")
        return pd.DataFrame(ranked[list(out.columns)]).reset_index(drop=True)
    keys = [k for k in ("USUBJID", f"{domain}SEQ") if k in out.columns]
    return out.sort_values(keys, kind="stable").reset_index(drop=True)


def _reference(patients: pd.DataFrame) -> pd.Series:
    """Pseudonym -> infusion instant (RFSTDTC)."""
    return pd.Series(
        pd.to_datetime(patients["infusion_at"]).to_numpy(), index=patients["pseudonym"].to_numpy()
    )


# --------------------------------------------------------------------------------------------------
# Domains
# --------------------------------------------------------------------------------------------------


def dm_frame(
    patients: pd.DataFrame, events: pd.DataFrame, dates: DateMode, options: SdtmOptions
) -> pd.DataFrame:
    """DM: one row per patient (tables of :mod:`dashboard.exports.source`, shifted times)."""
    deaths = events[events["event"].astype(str) == "death"]
    death_at = pd.to_datetime(deaths.groupby("pseudonym")["occurred_at"].min())
    pseudonym = patients["pseudonym"].astype(str)
    product = patients["product"].astype(str)
    arm = product.map(ARMS).fillna(product)
    died = pseudonym.isin(deaths["pseudonym"].astype(str))
    infusion = pd.to_datetime(patients["infusion_at"])
    frame = pd.DataFrame(
        {
            "STUDYID": options.studyid,
            "DOMAIN": "DM",
            "USUBJID": options.studyid + "-" + pseudonym,
            "SUBJID": pseudonym,
            "RFSTDTC": _dtc(infusion, dates),
            "RFXSTDTC": _dtc(infusion, dates),
            "DTHDTC": _dtc(pseudonym.map(death_at), dates),
            "DTHFL": died.map({True: "Y", False: ""}),
            "SITEID": patients["site_id"].astype(str),
            "AGE": patients["age_years"],
            "AGEU": patients["age_years"].notna().map({True: "YEARS", False: ""}),
            "SEX": patients["sex"].map(SEX_CT).fillna("U"),
            "ARMCD": product.str.upper().str.slice(0, 20),
            "ARM": arm,
            "ACTARMCD": product.str.upper().str.slice(0, 20),
            "ACTARM": arm,
            "COUNTRY": patients["site_id"].astype(str).map(dict(options.countries)).fillna(""),
        }
    )
    return _finish("DM", frame)


def follow_up_end(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per pseudonym, how its follow-up ends: ``last_record_at`` (the last assessment, lab, drug
    or outcome event), ``last_assessed_at`` and the ``crs_grade`` / ``icans_grade`` of the last
    assessment (blank when not gradable). Feeds AEOUT (:data:`OUTCOME_RULE`)."""
    times = [
        tables[name][["pseudonym", column]].set_axis(["pseudonym", "at"], axis=1)
        for name, column in (("assessments", "observed_at"), ("labs", "collected_at"),
                             ("drugs", "given_at"), ("events", "occurred_at"))
        if len(tables[name])
    ]  # fmt: skip
    records = pd.concat(times, ignore_index=True) if times else pd.DataFrame(
        {"pseudonym": pd.Series(dtype=object), "at": pd.Series(dtype="datetime64[ns]")}
    )  # fmt: skip
    records = records.assign(pseudonym=records["pseudonym"].astype(str),
                             at=pd.to_datetime(records["at"]))  # fmt: skip
    last_record = records.groupby("pseudonym")["at"].max().rename("last_record_at")
    assessments = tables["assessments"]
    last = (
        assessments.assign(pseudonym=assessments["pseudonym"].astype(str),
                           observed_at=pd.to_datetime(assessments["observed_at"]))
        .sort_values(["pseudonym", "observed_at"], kind="stable")
        .groupby("pseudonym")
        .tail(1)
        .set_index("pseudonym")
    )  # fmt: skip
    frame = pd.DataFrame(
        {
            "last_assessed_at": last["observed_at"],
            "crs_grade": pd.to_numeric(last["crs_grade"], errors="coerce"),
            "icans_grade": pd.to_numeric(last["icans_grade"], errors="coerce"),
        }
    )
    return frame.join(last_record, how="outer")


def _outcome(episodes: pd.DataFrame, grade: pd.Series, follow_up: pd.DataFrame | None) -> pd.Series:
    """AEOUT per :data:`OUTCOME_RULE` (CDISC OUT codelist C66768). Without ``follow_up`` no
    unresolved episode is known to be unresolved at the end of follow-up: UNKNOWN."""
    outcome = pd.Series(UNKNOWN_OUTCOME, index=episodes.index, dtype=object)
    if follow_up is not None and len(episodes):
        end = follow_up.reindex(episodes["pseudonym"].astype(str).to_numpy())
        crs = episodes["syndrome"].astype(str).str.upper().to_numpy() == "CRS"
        last_grade = pd.Series(
            end["crs_grade"].where(crs, end["icans_grade"]).to_numpy(), index=episodes.index
        )
        assessed = pd.to_datetime(end["last_assessed_at"]).dt.normalize().to_numpy()
        recorded = pd.to_datetime(end["last_record_at"]).dt.normalize().to_numpy()
        at_the_end = pd.Series(assessed >= recorded, index=episodes.index)  # NaT: False
        present = (pd.to_numeric(last_grade, errors="coerce") >= 1).fillna(False)
        outcome[(present & at_the_end).to_numpy(dtype=bool)] = NOT_RECOVERED
    outcome[(episodes["status"].astype(str) == "resolved").to_numpy()] = RECOVERED
    outcome[(grade == 5).fillna(False).to_numpy(dtype=bool)] = FATAL
    return outcome


def ae_frames(
    episodes: pd.DataFrame,
    patients: pd.DataFrame,
    dates: DateMode,
    options: SdtmOptions,
    follow_up: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """AE (one row per CRS or ICANS episode) and its SUPPAE records. ``follow_up``
    (:func:`follow_up_end`) tells an unresolved episode's AEOUT (:data:`OUTCOME_RULE`)."""
    reference = _reference(patients)
    pseudonym = episodes["pseudonym"].astype(str)
    syndrome = episodes["syndrome"].astype(str)
    onset = pd.to_datetime(episodes["onset_at"])
    resolved = pd.to_datetime(episodes["resolved_at"])
    grade = pd.to_numeric(episodes["peak_grade"], errors="coerce").astype("Int64")
    rfst = pd.to_datetime(pseudonym.map(reference))
    outcome = _outcome(episodes, grade, follow_up)
    terms = syndrome.map(AE_TERMS)
    frame = pd.DataFrame(
        {
            "STUDYID": options.studyid,
            "DOMAIN": "AE",
            "USUBJID": options.studyid + "-" + pseudonym,
            "AESPID": syndrome + "-" + episodes["episode"].astype(str),
            "AETERM": terms.map(lambda t: t.aeterm),
            "AEDECOD": terms.map(lambda t: t.aedecod),
            "AEBODSYS": terms.map(lambda t: t.aebodsys),
            "AESER": options.seriousness.serious(grade.astype("Float64")),
            "AEOUT": outcome,
            "AESDTH": (outcome == FATAL).map({True: "Y", False: "N"}),
            "AETOXGR": grade.astype(str).replace("<NA>", ""),
            "AESTDTC": _dtc(onset, dates),
            "AEENDTC": _dtc(resolved, dates),
            "AESTDY": sdtm_study_day(onset, rfst),
            "AEENDY": sdtm_study_day(resolved, rfst),
            "_onset": onset,
            "_syndrome": syndrome,
        }
    )
    frame["AESEQ"] = _sequence(frame, ["_onset", "_syndrome", "AESPID"])
    ae = _finish("AE", frame)
    supp = _suppae(ae)
    return ae, supp


def _suppae(ae: pd.DataFrame) -> pd.DataFrame:
    """Two SUPPAE records per AE: the ASTCT grade and the grading scale, linked by AESEQ."""
    seq = ae["AESEQ"].astype("Int64").astype(str)
    base = {"STUDYID": ae["STUDYID"], "RDOMAIN": "AE", "USUBJID": ae["USUBJID"]}
    rows = [
        pd.DataFrame(
            {**base, "IDVAR": "AESEQ", "IDVARVAL": seq, "QNAM": "ASTCTGR",
             "QLABEL": "ASTCT 2019 Consensus Grade", "QVAL": ae["AETOXGR"], "QORIG": "DERIVED",
             "QEVAL": ""}
        ),
        pd.DataFrame(
            {**base, "IDVAR": "AESEQ", "IDVARVAL": seq, "QNAM": "AETOXSCL",
             "QLABEL": "Toxicity Grading Scale", "QVAL": TOXICITY_SCALE, "QORIG": "ASSIGNED",
             "QEVAL": ""}
        ),
    ]  # fmt: skip
    supp = pd.concat(rows, ignore_index=True) if len(ae) else pd.DataFrame(columns=list(base))
    return _finish("SUPPAE", supp)


def lb_frame(
    labs: pd.DataFrame, patients: pd.DataFrame, dates: DateMode, options: SdtmOptions
) -> pd.DataFrame:
    """LB: one row per lab result, CTCAE v5.0 LBTOXGR for neutrophils, platelets, haemoglobin."""
    reference = _reference(patients)
    sexes = {
        str(p): Sex(s) if isinstance(s, str) and s in {x.value for x in Sex} else None
        for p, s in zip(patients["pseudonym"], patients["sex"], strict=True)
    }
    work = labs.assign(patient_id=labs["pseudonym"].astype(str)).reset_index(drop=True)
    graded = ctcae_frame(work, sexes, options.cytopenia) if len(work) else work
    analyte = work["analyte"].astype(str)
    tests = analyte.map(LAB_TESTS)
    collected = pd.to_datetime(work["collected_at"])
    in_ctcae = analyte.isin(CTCAE_GRADED)
    grade = (
        graded["ctcae_grade"].astype("Int64").astype(str).where(in_ctcae, "")
        if len(work)
        else pd.Series(dtype=object)
    )
    frame = pd.DataFrame(
        {
            "STUDYID": options.studyid,
            "DOMAIN": "LB",
            "USUBJID": options.studyid + "-" + work["pseudonym"].astype(str),
            "LBTESTCD": tests.map(lambda t: t.testcd, na_action="ignore").fillna(analyte),
            "LBTEST": tests.map(lambda t: t.test, na_action="ignore").fillna(analyte),
            "LBORRES": _text(work["value"]),
            "LBORRESU": work["unit"],
            "LBSTRESC": _text(graded["value_canonical"]) if len(work) else "",
            "LBSTRESN": graded["value_canonical"] if len(work) else pd.NA,
            "LBSTRESU": tests.map(lambda t: t.unit, na_action="ignore").fillna(""),
            "LBLOINC": _confirmed_loinc(analyte, work["loinc"]),
            "LBTOX": graded["ctcae_term"].where(in_ctcae, "") if len(work) else "",
            "LBTOXGR": grade.replace("<NA>", ""),
            "LBDTC": _dtc(collected, dates),
            "LBDY": sdtm_study_day(collected, work["pseudonym"].astype(str).map(reference)),
            "_at": collected,
        }
    )
    frame["LBSEQ"] = _sequence(frame, ["_at", "LBTESTCD"])
    return _finish("LB", frame)


def _confirmed_loinc(analyte: pd.Series, stored: pd.Series) -> pd.Series:
    """LBLOINC: the stored LOINC code where it is the analyte's [C] code of criteria.md 8.3
    (:data:`dashboard.exports.fhir_mapping.LAB_LOINC`), blank otherwise. A code that is not
    confirmed there (the CD19 codes 8116-6 and 8117-4 are [S]; a code of another test) never
    leaves as LBLOINC."""
    confirmed = analyte.map({a.value: code.code for a, code in LAB_LOINC.items()}).fillna("")
    text = stored.astype(object).where(stored.notna(), "").astype(str).str.strip()
    return text.where(text == confirmed, "")


def vs_frame(
    assessments: pd.DataFrame, patients: pd.DataFrame, dates: DateMode, options: SdtmOptions
) -> pd.DataFrame:
    """VS: one row per recorded vital sign of each assessment (a blank value is no row)."""
    reference = _reference(patients)
    observed = pd.to_datetime(assessments["observed_at"])
    parts = []
    for order, sign in enumerate(VITAL_SIGNS):
        value = pd.to_numeric(assessments[sign.column], errors="coerce")
        rows = value.notna()
        if not rows.any():
            continue
        text = _text(value[rows])
        pseudonym = assessments.loc[rows, "pseudonym"].astype(str)
        at = observed[rows]
        parts.append(
            pd.DataFrame(
                {
                    "STUDYID": options.studyid,
                    "DOMAIN": "VS",
                    "USUBJID": options.studyid + "-" + pseudonym,
                    "VSTESTCD": sign.testcd,
                    "VSTEST": sign.test,
                    "VSORRES": text,
                    "VSORRESU": sign.unit,
                    "VSSTRESC": text,
                    "VSSTRESN": value[rows],
                    "VSSTRESU": sign.unit,
                    "VSLOINC": sign.loinc,
                    "VSDTC": _dtc(at, dates),
                    "VSDY": sdtm_study_day(at, pseudonym.map(reference)),
                    "_at": at,
                    "_order": order,
                }
            )
        )
    if not parts:
        return _finish("VS", pd.DataFrame(columns=["USUBJID", "VSSEQ"]))
    frame = pd.concat(parts, ignore_index=True)
    frame["VSSEQ"] = _sequence(frame, ["_at", "_order"])
    return _finish("VS", frame)


def domain_frames(
    tables: Mapping[str, pd.DataFrame], dates: DateMode, options: SdtmOptions
) -> dict[str, pd.DataFrame]:
    """Every dataset of one chunk's tables (read with shifted dates: :func:`calendar_chunks`)."""
    patients = tables["patients"]
    ae, suppae = ae_frames(tables["episodes"], patients, dates, options, follow_up_end(tables))
    return {
        "DM": dm_frame(patients, tables["events"], dates, options),
        "AE": ae,
        "SUPPAE": suppae,
        "LB": lb_frame(tables["labs"], patients, dates, options),
        "VS": vs_frame(tables["assessments"], patients, dates, options),
    }


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------


def calendar_chunks(
    engine: Engine, actor: Actor, request: ExportRequest, progress: Progress | None = None
) -> Iterator[dict[str, pd.DataFrame]]:
    """The source's tables, always read with shifted date-times (whole-day shifts keep calendar
    days, which --DY and the Day-100 window need); callers write date-times only in shifted mode."""
    shifted = request.model_copy(update={"dates": DateMode.SHIFTED})
    for chunk in export_chunks(engine, actor, shifted, progress):
        yield chunk.tables


class _CsvSink:
    """One CSV file written chunk by chunk: the manifest as ``#`` lines, the header, the rows."""

    def __init__(self, path: Path, columns: tuple[str, ...], header: str) -> None:
        self.path = path
        self.header_lines = header.count("\n")
        self._file: TextIO = path.open("w", encoding="utf-8", newline="")
        self._file.write(header)
        pd.DataFrame(columns=list(columns)).to_csv(self._file, index=False)

    def append(self, frame: pd.DataFrame) -> None:
        if len(frame):
            frame.to_csv(self._file, index=False, header=False)

    def close(self) -> None:
        self._file.close()


def read_sdtm_csv(path: Path, domain: str, *, categorical: bool = False) -> pd.DataFrame:
    """A dataset CSV written by :func:`write_sdtm`, with SDTM types (character blanks as "").

    ``categorical`` reads the character variables as pandas categoricals (pyreadstat writes them
    as plain character variables): a cohort's VS domain takes about 20 times less memory so.
    """
    with path.open(encoding="utf-8") as handle:
        skip = sum(1 for line in handle if line.startswith("#"))
    text = "category" if categorical else str
    dtypes = {name: str if name in NUMERIC else text for name in VARIABLES[domain]}
    frame = pd.read_csv(path, skiprows=skip, dtype=dtypes, keep_default_na=False)
    for name in VARIABLES[domain]:
        if name in NUMERIC:
            frame[name] = pd.to_numeric(frame[name].replace("", None), errors="coerce").astype(
                float
            )
    return frame


def _write_xpt(frame: pd.DataFrame, path: Path, domain: str) -> None:
    pyreadstat.write_xport(
        frame,
        str(path),
        file_label=DATASET_LABELS[domain],
        column_labels=[LABELS[c] for c in frame.columns],
        table_name=domain,
        file_format_version=5,
    )


def write_sdtm(
    engine: Engine,
    actor: Actor,
    request: ExportRequest,
    out_dir: Path,
    progress: Progress | None = None,
    *,
    options: SdtmOptions | None = None,
) -> list[Path]:
    """Write DM, AE, SUPPAE, LB and VS (``<domain>.csv`` and ``<domain>.xpt``), ``manifest.json``
    and ``define_notes.md`` into ``out_dir``; returns the files written.

    AccessDeniedError (from the source) for an actor who may not export.
    """
    options = options or SdtmOptions()
    key = export_key(engine, actor, request)  # role and sites, before any file
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = export_manifest(key, request)
    entries["sdtm"] = (
        f"{SDTMIG}-shaped datasets; STUDYID {options.studyid}; USUBJID = STUDYID-pseudonym; "
        "see define_notes.md"
    )
    entries["sdtm study day"] = (
        "--DY per SDTMIG 3.4 4.4.4: the infusion day is day 1, the day before is -1 (no day 0)"
    )
    header = manifest_comment(entries)
    sinks = {
        domain: _CsvSink(out_dir / f"{domain.lower()}.csv", VARIABLES[domain], header)
        for domain in DOMAINS
    }
    try:
        for tables in calendar_chunks(engine, actor, request, progress):
            for domain, frame in domain_frames(tables, request.dates, options).items():
                sinks[domain].append(frame)
    finally:
        for sink in sinks.values():
            sink.close()
    paths: list[Path] = []
    for domain, sink in sinks.items():
        xpt = out_dir / f"{domain.lower()}.xpt"
        _write_xpt(read_sdtm_csv(sink.path, domain, categorical=True), xpt, domain)
        paths += [sink.path, xpt]
    manifest_path = out_dir / "manifest.json"
    manifest_path.write_text(json.dumps(entries, indent=2) + "\n", encoding="utf-8")
    notes = out_dir / "define_notes.md"
    notes.write_text(define_notes(request.dates, options, entries), encoding="utf-8")
    return [*paths, manifest_path, notes]


# --------------------------------------------------------------------------------------------------
# define_notes.md
# --------------------------------------------------------------------------------------------------

#: Origin of each variable that is not a plain copy of a stored value (define.xml "Origin").
ORIGINS: dict[str, str] = {
    "STUDYID": "Assigned: SdtmOptions.studyid",
    "USUBJID": "Derived: STUDYID-pseudonym (keyed HMAC of the study id)",
    "SUBJID": "Derived: the pseudonym",
    "RFSTDTC": "Derived: CAR T infusion date-time (shifted); blank in study-day mode",
    "RFXSTDTC": "Derived: CAR T infusion date-time (shifted); blank in study-day mode",
    "DTHDTC": "Derived: outcome event 'death' (shifted); blank in study-day mode",
    "DTHFL": "Derived: Y when a death event is recorded, else null",
    "AGE": "Collected: age at infusion in years",
    "SEX": "Derived: female F, male M, other or not recorded U (CDISC SEX codelist)",
    "ARMCD": "Derived: product code in upper case",
    "ARM": "Derived: product name",
    "ACTARMCD": "Derived: product code in upper case (the product infused)",
    "ACTARM": "Derived: product name (the product infused)",
    "COUNTRY": "Not available: see 'Required variables not filled'",
    "AESEQ": "Derived: 1, 2, ... per subject by onset",
    "AESPID": "Derived: syndrome-episode number, e.g. CRS-1 (the episodes table's key)",
    "AETERM": "Derived: one AE per CRS or ICANS episode of the graded course (grading.course)",
    "AEDECOD": "Assigned: MedDRA preferred term name [U]: coder to confirm, no codes given",
    "AEBODSYS": "Assigned: MedDRA primary SOC name [U]",
    "AESER": "Derived: SeriousnessRule (see 'Seriousness')",
    "AEOUT": f"Derived (CDISC OUT codelist): {OUTCOME_RULE}",
    "AESDTH": "Derived: Y when AEOUT is FATAL, else N",
    "AETOXGR": "Derived: the episode's highest ASTCT 2019 grade (NOT CTCAE; see SUPPAE AETOXSCL)",
    "AESTDTC": "Derived: first assessment graded >= 1 (shifted); blank in study-day mode",
    "AEENDTC": "Derived: resolution per the course's episode policy (shifted); blank while ongoing "
    "and in study-day mode",
    "AESTDY": "Derived: SDTMIG 3.4 4.4.4 study day of the onset",
    "AEENDY": "Derived: SDTMIG 3.4 4.4.4 study day of the resolution",
    "LBSEQ": "Derived: 1, 2, ... per subject by collection time and test",
    "LBTESTCD": "Assigned: CDISC LBTESTCD per analyte [U]",
    "LBORRES": "Collected: the value as reported",
    "LBORRESU": "Collected: the unit as reported",
    "LBSTRESN": "Derived: converted to the canonical unit of grading.units",
    "LBLOINC": "Collected: the LOINC code stored with the result, kept only where it is the "
    "analyte's code tagged [C] in criteria.md 8.3; blank otherwise (e.g. the [S] CD19 codes)",
    "LBTOX": "Derived: CTCAE v5.0 term, graded analytes only",
    "LBTOXGR": f"Derived: {CTCAE_CITATION} grade from grading.ctcae_v5_cytopenia [U], "
    "neutrophils, platelets and haemoglobin only; blank otherwise",
    "LBDY": "Derived: SDTMIG 3.4 4.4.4 study day of the collection",
    "VSSEQ": "Derived: 1, 2, ... per subject by time and test",
    "VSORRES": "Collected: the value of the assessment (temperature in C; F converted at entry)",
    "VSLOINC": "Assigned: LOINC of criteria.md 8.3 [C]",
    "VSDY": "Derived: SDTMIG 3.4 4.4.4 study day of the assessment",
}


def define_notes(dates: DateMode, options: SdtmOptions, entries: Mapping[str, str]) -> str:
    """The notes a reviewer reads beside the datasets (origins, date mode, rules, manifest)."""
    policy = options.cytopenia
    date_text = (
        "**Shifted**: every --DTC is an ISO 8601 date-time moved back by a whole number of days "
        "(1-364), fixed per patient; times of day and intervals are kept."
        if dates is DateMode.SHIFTED
        else "**Study day**: every --DTC, RFSTDTC, RFXSTDTC and DTHDTC is empty; only --DY is "
        "given. (SDTM expects --DTC; this mode trades it for de-identification.)"
    )
    lines = [
        "# SDTM define notes (cartwatch)",
        "",
        f"SDTM-shaped datasets after {SDTMIG}; not a validated submission (no define.xml, no "
        "trial-design datasets, MedDRA not coded).",
        "",
        "## Dates",
        "",
        date_text,
        "",
        "--DY follows SDTMIG 3.4 section 4.4.4: date(--DTC) - date(RFSTDTC) + 1 on or after "
        "RFSTDTC, date(--DTC) - date(RFSTDTC) before it. RFSTDTC is the CAR T infusion, so the "
        "infusion day is day 1 and the day before is day -1 (cartwatch's tidy tables call the "
        "infusion day 0).",
        "",
        "## Grading scale of AETOXGR",
        "",
        f"AETOXGR is the **{TOXICITY_SCALE}** consensus grade ({ASTCT_REFERENCE}), not a CTCAE "
        "grade. Each AE has SUPPAE records QNAM ASTCTGR (the grade) and AETOXSCL "
        f'("{TOXICITY_SCALE}"), IDVAR AESEQ.',
        "",
        "## Seriousness",
        "",
        options.seriousness.describe() + ". Seriousness is a site and sponsor decision "
        "(ICH E2A criteria); criteria.md gives no rule [U] and the store records no "
        "hospitalisation, disability or medical-importance judgement, so this is a "
        "configurable proxy (SeriousnessRule).",
        "",
        "## Laboratory toxicity grades",
        "",
        f"LBTOXGR: {CTCAE_CITATION} for neutrophil count decreased, platelet count decreased and "
        "anemia only, from grading.ctcae_v5_cytopenia. Those rows are an engineering "
        "transcription, evidence [U]: they are not in criteria.md; verify against the CTCAE "
        f"document. Lower limits of normal (policy '{policy.name}'): ANC "
        f"{policy.anc_lln_cells_ul:g} /uL, platelets {policy.platelets_lln_10e9_l:g} 10^9/L, "
        f"haemoglobin {policy.hemoglobin_lln_female_g_dl:g} g/dL (female), "
        f"{policy.hemoglobin_lln_male_g_dl:g} g/dL (male), "
        f"{policy.hemoglobin_lln_unknown_sex_g_dl:g} g/dL (sex unknown). Anemia grade 4 is "
        "clinical and never given from a value. Every other analyte (lymphocytes, leukocytes, "
        "chemistry, CD19) has LBTOXGR blank: no CTCAE thresholds for them are in the repository.",
        "",
        "## Controlled terms",
        "",
        "SEX, AGEU, OUT, NY, VSTESTCD and the units follow CDISC CT as recalled; LBTESTCD/LBTEST "
        "codes and the standard-unit spellings are [U] (not checked against the NCI EVS files). "
        "MedDRA terms are names only [U].",
        "",
        "## Required variables (SDTMIG 3.4 Core = Req)",
        "",
    ]
    for domain, names in REQUIRED.items():
        lines.append(f"- {domain}: {', '.join(names)}")
    lines += ["", "Required variables not filled:", ""]
    for domain, gaps in UNFILLED_REQUIRED.items():
        for name, why in gaps.items():
            filled = " (filled: a country map was given)" if options.countries else ""
            lines.append(f"- {domain}.{name}: {why}{filled}")
    lines += ["", "## Origins", "", "| Variable | Origin |", "|---|---|"]
    lines += [f"| {name} | {origin} |" for name, origin in ORIGINS.items()]
    lines += ["", "## De-identification manifest", ""]
    lines += [f"- {name}: {value}" for name, value in entries.items()]
    return "\n".join(lines) + "\n"
