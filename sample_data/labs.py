"""The labs table: smooth per-patient curves evaluated at every draw, in canonical units, then
reported in the units of the patient's site (criteria.md 8.2) with LOINC codes where criteria.md 8.3
tags them [C] (the CD19 codes are only [S] there, creatinine is not listed: left blank).

Curves: the lymphodepletion nadir of neutrophils, lymphocytes and platelets; CRP, ferritin and
fibrinogen rising with CRS (ferritin below 2x baseline except in the IEC-HS scenario); CD19 B cells
absent until the patient's recovery day after CD19-directed products; IgG falling towards a floor
(deeper after CD19-BCMA) and recovering after the B cells.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from grading.records import Analyte
from grading.units import UNITS, fold
from sample_data.draws import DAY_S, People
from sample_data.labs_curves import canonical_values
from sample_data.segments import Segments
from sample_data.timeline import CORE, IMMUNE, Rows, Template

A = Analyte
FloatArray = NDArray[np.float64]

LAB_COLUMNS = ("patient_id", "collected_at", "analyte", "value", "unit", "loinc")
ANALYTES = (A.ANC, A.LYMPHOCYTES, A.PLATELETS, A.HEMOGLOBIN, A.CRP, A.FERRITIN, A.FIBRINOGEN,
            A.CREATININE, A.CD19_ABSOLUTE, A.CD19_PERCENT, A.IGG)  # fmt: skip
CORE_ANALYTES = ANALYTES[:8]
IMMUNE_ANALYTES = (A.LYMPHOCYTES, A.CD19_ABSOLUTE, A.CD19_PERCENT, A.IGG)
LOINC = {A.CRP: "1988-5", A.FERRITIN: "2276-4", A.FIBRINOGEN: "3255-7", A.ANC: "751-8",
         A.LYMPHOCYTES: "731-0", A.PLATELETS: "777-3", A.HEMOGLOBIN: "718-7", A.IGG: "2465-3"}  # fmt: skip
SI = {A.ANC: "10^9/L", A.LYMPHOCYTES: "10^9/L", A.PLATELETS: "10^9/L", A.HEMOGLOBIN: "g/L",
      A.CRP: "mg/L", A.FERRITIN: "ug/L", A.FIBRINOGEN: "g/L", A.CREATININE: "umol/L",
      A.CD19_ABSOLUTE: "cells/uL", A.CD19_PERCENT: "%", A.IGG: "g/L"}  # fmt: skip
US = {A.ANC: "cells/uL", A.LYMPHOCYTES: "cells/uL", A.PLATELETS: "10^3/uL",
      A.HEMOGLOBIN: "g/dL", A.CRP: "mg/dL", A.FERRITIN: "ng/mL", A.FIBRINOGEN: "mg/dL",
      A.CREATININE: "mg/dL", A.CD19_ABSOLUTE: "cells/uL", A.CD19_PERCENT: "%", A.IGG: "mg/dL"}  # fmt: skip
MIXED = {**US, A.ANC: "10^3/uL", A.LYMPHOCYTES: "/uL", A.CRP: "mg/L", A.IGG: "g/L",
         A.CD19_ABSOLUTE: "/uL"}  # fmt: skip
#: The unit profile of each site, S01 ... S05.
SITE_UNITS = (SI, MIXED, US, SI, US)
#: Decimals reported per (analyte, unit); -1 rounds to tens.
DECIMALS = {"10^9/L": 2, "10^3/uL": 2, "cells/uL": -1, "/uL": -1, "g/L": 2, "mg/dL": 0,
            "mg/L": 1, "ug/L": 0, "ng/mL": 0, "umol/L": 0, "%": 2, "g/dL": 1}  # fmt: skip
SPECIAL_DECIMALS = {(A.PLATELETS, "10^9/L"): 0, (A.PLATELETS, "10^3/uL"): 0,
                    (A.HEMOGLOBIN, "g/L"): 0, (A.CRP, "mg/dL"): 2, (A.CREATININE, "mg/dL"): 2,
                    (A.CD19_ABSOLUTE, "cells/uL"): 1, (A.CD19_ABSOLUTE, "/uL"): 1}  # fmt: skip


def factor(analyte: A, unit: str) -> float:
    """Multiply a value in ``unit`` by this to get the canonical unit (grading.units)."""
    return UNITS[analyte][1][fold(unit)]


def build_labs(
    people: People, segments: Segments, rows: Rows, template: Template, rng: np.random.Generator
) -> pd.DataFrame:
    f = people.frame
    p = rows.patient
    study_day = (rows.at_s - f["day0_s"].to_numpy()[p]) // DAY_S
    values = canonical_values(people, segments, p, rows.hour / 24, rng)
    d = len(p)
    kind = template.kind[rows.slot]
    member = np.zeros((d, len(ANALYTES)), dtype=bool)
    for j, analyte in enumerate(ANALYTES):
        member[:, j] = ((kind & CORE) > 0) & (analyte in CORE_ANALYTES)
        member[:, j] |= ((kind & IMMUNE) > 0) & (analyte in IMMUNE_ANALYTES)
    for i, spec in enumerate(people.specs):
        mine = p == i
        for path in spec.labs:
            days = np.array([x for x, _ in path.points])
            span = mine & (study_day >= days[0]) & (study_day <= days[-1])
            values[path.analyte][span] = np.interp(
                study_day[span], days, [y for _, y in path.points]
            )
        member[mine & np.isin(study_day, spec.gaps.lab_days) & ((kind & IMMUNE) == 0)] = False
    routine = ~f["scenario"].to_numpy(dtype=bool)[p]
    lost_draw = routine & (study_day > 0) & (study_day <= 28) & (rng.random(d) < 0.01)
    member &= ~lost_draw[:, None] & ~(routine[:, None] & (rng.random(member.shape) < 0.02))

    draw, column = np.nonzero(member)  # row-major: by draw (patient, time), then analyte
    canonical = np.stack([values[a] for a in ANALYTES], axis=1)[draw, column]
    site = f["site"].to_numpy()[p][draw]
    reported = np.zeros(len(draw))
    units = sorted({name for profile in SITE_UNITS for name in profile.values()})
    unit = np.zeros(len(draw), dtype=np.int64)
    for s, profile in enumerate(SITE_UNITS):
        for j, analyte in enumerate(ANALYTES):
            rows_here = (site == s) & (column == j)
            name = profile[analyte]
            decimals = SPECIAL_DECIMALS.get((analyte, name), DECIMALS[name])
            reported[rows_here] = np.round(canonical[rows_here] / factor(analyte, name), decimals)
            unit[rows_here] = units.index(name)
    codes = sorted(set(LOINC.values()))
    loinc = np.array([codes.index(LOINC[a]) if a in LOINC else -1 for a in ANALYTES])
    return pd.DataFrame(
        {
            "patient_id": f["patient_id"].to_numpy()[p][draw],
            "collected_at": rows.at_s[draw].astype("datetime64[s]"),
            "analyte": pd.Categorical.from_codes(
                column, categories=pd.Index([a.value for a in ANALYTES])
            ),
            "value": np.maximum(reported, 0.0) + 0.0,  # + 0.0 turns -0.0 into 0.0
            "unit": pd.Categorical.from_codes(unit, categories=pd.Index(units)),
            "loinc": pd.Categorical.from_codes(loinc[column], categories=pd.Index(codes)),
        }
    )
