"""The drug log, derived from the course the way a ward would give the drugs (criteria.md 6, 7.3).

- paracetamol at the first febrile assessment of a run and every 8 h while the fever lasts
  (1 g PO, 15 mg/kg under 50 kg);
- tocilizumab 8 mg/kg IV (12 mg/kg under 30 kg), never above 800 mg, rounded down to 10 mg, after
  the first grade 2 assessment of a routine patient (scenario patients have their doses written);
- IVIG 0.4 g/kg every 28 days from the day after the first IgG <= 400 mg/dL until an IgG above
  400 mg/dL (dose and interval [U] in criteria.md 7.3; the site policy's 28-day interval);
- G-CSF 5 ug/kg (300 or 480 ug vials) after an ANC < 500/uL from day 14 to day 30 (therapeutic
  only: prophylactic G-CSF is not recommended in autoimmune disease, criteria.md 5);
- levetiracetam 500 mg PO q12h for days 0-14 as prophylaxis in a few SLE patients (6.3);
- the scenario patients' written doses (vasopressors, steroids, anakinra, extra tocilizumab).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from grading.units import labs_to_canonical
from sample_data.draws import DAY_S, HOUR_S, People

IntArray = NDArray[np.int64]
DRUG_COLUMNS = ("patient_id", "given_at", "drug", "dose", "dose_unit", "route")


def _seconds(values: pd.Series) -> IntArray:
    return np.asarray(values.to_numpy(dtype="datetime64[s]").astype(np.int64))


def tocilizumab_mg(weight_kg: NDArray[np.float64]) -> NDArray[np.float64]:
    per_kg = np.where(weight_kg < 30, 12.0, 8.0)
    return np.asarray(np.minimum(np.floor(per_kg * weight_kg / 10) * 10, 800.0))


def _ivig_course(
    patient: IntArray, drawn: IntArray, igg_mg_dl: NDArray[np.float64], end: IntArray
) -> tuple[IntArray, IntArray]:
    """IVIG every 28 days from the day after the first IgG <= 400 mg/dL until the first IgG above
    it (or day 365): the doses' patients and times."""
    low = igg_mg_dl <= 400
    table = pd.DataFrame({"patient": patient, "at": drawn, "low": low})
    first_low = table[low].groupby("patient")["at"].min()
    if first_low.empty:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    table["first_low"] = table["patient"].map(first_low)
    recovered = table[~table["low"] & (table["at"] > table["first_low"])]
    stop = recovered.groupby("patient")["at"].min().reindex(first_low.index)
    who = first_low.index.to_numpy(dtype=np.int64)
    stop_s = np.where(stop.isna(), end[who], stop.to_numpy(dtype=float)).astype(np.int64)
    start = first_low.to_numpy(dtype=np.int64) + DAY_S + HOUR_S
    count = np.maximum((stop_s - start) // (28 * DAY_S) + 1, 1)
    doses = np.repeat(who, count)
    step = np.arange(len(doses)) - np.repeat(np.cumsum(count) - count, count)
    return doses, np.repeat(start, count) + step * 28 * DAY_S


def build_drugs(people: People, assessments: pd.DataFrame, labs: pd.DataFrame) -> pd.DataFrame:
    f = people.frame
    index = pd.Index(f["patient_id"])
    weight = f["weight_kg"].to_numpy(dtype=float)
    parts: list[tuple[IntArray, IntArray, str, NDArray[np.float64], str, str]] = []

    # Paracetamol: every other row of each febrile run (runs of 4-hourly rows: every 8 h).
    patient = index.get_indexer(assessments["patient_id"]).astype(np.int64)
    fever = (assessments["temperature_c"] >= 38.0).to_numpy(dtype=bool)
    previous = np.r_[False, fever[:-1] & (patient[1:] == patient[:-1])]
    start = fever & ~previous
    position = np.arange(len(fever))
    position = position - np.maximum.accumulate(np.where(start, position, 0))
    give = fever & (position % 2 == 0)
    at = _seconds(assessments["observed_at"])
    who = patient[give]
    mg = np.where(weight[who] < 50, np.floor(15 * weight[who] / 10) * 10, 1000.0)
    parts.append((who, at[give] + 600, "paracetamol", mg, "mg", "po"))

    # Tocilizumab after the first grade 2 assessment of each routine patient.
    supported = (
        np.array(
            assessments["hypotension"].isin(["fluid_responsive"])
            | assessments["oxygen_device"].isin(["low_flow_nasal_cannula"]),
            dtype=bool,
        )
        & ~f["scenario"].to_numpy(dtype=bool)[patient]
    )
    first = np.flatnonzero(
        supported & ~np.r_[False, supported[:-1] & (patient[1:] == patient[:-1])]
    )
    first = first[np.unique(patient[first], return_index=True)[1]]
    parts.append(
        (patient[first], at[first] + 1200, "tocilizumab", tocilizumab_mg(weight[patient[first]]),
         "mg", "iv")
    )  # fmt: skip

    # IVIG the day after a low IgG; G-CSF after a late neutropenia.
    canonical = labs_to_canonical(labs[labs["analyte"].isin(["igg", "anc"])])
    lab_patient = index.get_indexer(canonical["patient_id"]).astype(np.int64)
    drawn = _seconds(canonical["collected_at"])
    day = (drawn - f["day0_s"].to_numpy()[lab_patient]) // DAY_S
    value = canonical["value_canonical"].to_numpy(dtype=float)
    analyte = canonical["analyte"].to_numpy()
    igg = (analyte == "igg") & (day > 0)
    who, times = _ivig_course(
        lab_patient[igg], drawn[igg], value[igg], f["infusion_s"].to_numpy() + 365 * DAY_S
    )
    parts.append((who, times, "ivig", np.round(0.4 * weight[who] / 5) * 5, "g", "iv"))
    late_neutropenia = (analyte == "anc") & (value < 500) & (day >= 14) & (day <= 30)
    who = lab_patient[late_neutropenia]
    parts.append(
        (who, drawn[late_neutropenia] + 3 * HOUR_S, "g_csf",
         np.where(weight[who] < 60, 300.0, 480.0), "mcg", "sc")
    )  # fmt: skip

    # Levetiracetam prophylaxis: 30 doses q12h from 2 h before the infusion.
    flagged = np.flatnonzero(f["levetiracetam"].to_numpy(dtype=bool))
    who = np.repeat(flagged, 30)
    times = (
        f["infusion_s"].to_numpy()[who]
        - 2 * HOUR_S
        + np.tile(np.arange(30), len(flagged)) * 12 * HOUR_S
    )
    parts.append((who, times, "levetiracetam", np.full(len(who), 500.0), "mg", "po"))

    for i, spec in enumerate(people.specs):
        for dose in spec.doses:
            k = np.arange(dose.count)
            times = f["infusion_s"].to_numpy()[i] + ((dose.at_h + k * dose.every_h) * HOUR_S)
            parts.append(
                (np.full(dose.count, i, dtype=np.int64), times.astype(np.int64), dose.drug.value,
                 np.full(dose.count, float(dose.dose)), dose.unit, dose.route.value)
            )  # fmt: skip

    who = np.concatenate([part[0] for part in parts])
    when = np.concatenate([part[1] for part in parts]).astype(np.int64)
    drug = np.concatenate([np.full(len(part[0]), part[2], dtype=object) for part in parts])
    amount = np.concatenate([part[3] for part in parts])
    unit = np.concatenate([np.full(len(part[0]), part[4], dtype=object) for part in parts])
    route = np.concatenate([np.full(len(part[0]), part[5], dtype=object) for part in parts])
    order = np.lexsort((drug, when, who))
    return pd.DataFrame(
        {
            "patient_id": f["patient_id"].to_numpy()[who[order]],
            "given_at": when[order].astype("datetime64[s]"),
            "drug": drug[order],
            "dose": amount[order],
            "dose_unit": unit[order],
            "route": route[order],
        }
    )
