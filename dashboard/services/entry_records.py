"""The labs and drugs typed with an assessment, validated into records with messages that name
the row, the field and the value (nothing is stored unless every row is valid).

A lab row is (analyte, value, unit); a blank value is "not measured" and makes no record. A drug
row is (drug, dose, unit, route, minutes before the assessment); a row without a drug is ignored,
a row with a drug is validated whole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from grading.records import Analyte, Drug, DrugAdministration, LabResult
from grading.units import UNITS

#: The labs offered on the bedside form, each in its canonical unit (grading.units).
BEDSIDE_LABS: tuple[Analyte, ...] = (
    Analyte.CRP, Analyte.FERRITIN, Analyte.ANC, Analyte.PLATELETS, Analyte.HEMOGLOBIN,
    Analyte.IGG, Analyte.CD19_ABSOLUTE,
)  # fmt: skip
LAB_LABELS = {
    Analyte.CRP: "CRP", Analyte.FERRITIN: "Ferritin", Analyte.ANC: "Neutrophils (ANC)",
    Analyte.PLATELETS: "Platelets", Analyte.HEMOGLOBIN: "Haemoglobin", Analyte.IGG: "IgG",
    Analyte.CD19_ABSOLUTE: "CD19 B cells",
}  # fmt: skip
DRUG_ROWS = 3


def canonical_unit(analyte: Analyte) -> str:
    return UNITS[analyte][0]


def units_for(analyte: Analyte) -> list[str]:
    """The canonical unit first, then the other accepted spellings."""
    canonical, accepted = UNITS[analyte]
    return [canonical, *(u for u in accepted if u != canonical.lower())]


def labs(
    patient_id: str, collected_at: datetime, rows: Mapping[Analyte, tuple[float | None, str]]
) -> tuple[list[LabResult], list[str]]:
    out, problems = [], []
    for analyte, (value, unit) in rows.items():
        if value is None:
            continue
        try:
            out.append(LabResult(patient_id=patient_id, collected_at=collected_at,
                                 analyte=analyte, value=value, unit=unit))  # fmt: skip
        except ValidationError as error:
            problems += [_problem(f"lab {LAB_LABELS.get(analyte, analyte.value)}", d, value)
                         for d in error.errors()]  # fmt: skip
    return out, problems


def drugs(
    patient_id: str, observed_at: datetime, rows: Sequence[Mapping[str, Any]]
) -> tuple[list[DrugAdministration], list[str]]:
    out, problems = [], []
    for number, row in enumerate(rows, start=1):
        if not row.get("drug"):
            continue
        minutes = row.get("minutes_before") or 0
        values = {"patient_id": patient_id, "drug": row["drug"], "dose": row.get("dose"),
                  "dose_unit": row.get("dose_unit") or None, "route": row.get("route") or None,
                  "given_at": observed_at - timedelta(minutes=float(minutes))}  # fmt: skip
        try:
            out.append(DrugAdministration.model_validate(values))
        except ValidationError as error:
            problems += [_problem(f"drug row {number}", d, None) for d in error.errors()]
    return out, problems


def _problem(where: str, detail: Mapping[str, Any], value: object) -> str:
    field = ".".join(str(p) for p in detail.get("loc", ())) or "value"
    shown = detail.get("input", value)
    return f"{where}, {field} = {shown!r}: {detail.get('msg')}"


DRUG_CHOICES: tuple[str, ...] = tuple(d.value for d in Drug)
