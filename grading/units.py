"""Units: one canonical unit per analyte, the common reported units converted to it (criteria.md 8.2).

A conversion leaves a remark ("IgG 4.2 g/L = 420 mg/dL"). An unknown unit is an error, never a guess.
Spellings are matched after folding case, spaces, "µ"/"u" and "^"/"*" (UCUM writes 10*9/L).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

import numpy as np
import pandas as pd

from grading.records import Analyte


class UnknownUnitError(ValueError):
    """Raised for a unit that is not one of the known units of the analyte."""

    def __init__(self, analyte: str, unit: str, allowed: list[str]) -> None:
        self.analyte, self.unit, self.allowed = analyte, unit, allowed
        super().__init__(
            f"unit {unit!r} is not known for {analyte} (allowed: {', '.join(allowed)})"
        )


#: analyte -> (canonical unit, {accepted unit: factor to canonical}); factor 1 for the canonical.
UNITS: dict[Analyte, tuple[str, dict[str, float]]] = {
    Analyte.CRP: ("mg/L", {"mg/l": 1.0, "mg/dl": 10.0}),
    Analyte.FERRITIN: ("ng/mL", {"ng/ml": 1.0, "ug/l": 1.0}),
    Analyte.IL6: ("pg/mL", {"pg/ml": 1.0, "ng/l": 1.0}),
    Analyte.FIBRINOGEN: ("mg/dL", {"mg/dl": 1.0, "g/l": 100.0}),
    Analyte.IGG: ("mg/dL", {"mg/dl": 1.0, "g/l": 100.0}),
    Analyte.ANC: ("cells/uL", {"cells/ul": 1.0, "/ul": 1.0, "10^9/l": 1000.0, "10^3/ul": 1000.0}),
    Analyte.LYMPHOCYTES: (
        "cells/uL",
        {"cells/ul": 1.0, "/ul": 1.0, "10^9/l": 1000.0, "10^3/ul": 1000.0},
    ),
    Analyte.WBC: ("cells/uL", {"cells/ul": 1.0, "/ul": 1.0, "10^9/l": 1000.0, "10^3/ul": 1000.0}),
    Analyte.PLATELETS: ("10^9/L", {"10^9/l": 1.0, "10^3/ul": 1.0, "/ul": 0.001, "cells/ul": 0.001}),
    Analyte.HEMOGLOBIN: ("g/dL", {"g/dl": 1.0, "g/l": 0.1, "mmol/l": 1.611}),
    Analyte.LDH: ("U/L", {"u/l": 1.0, "iu/l": 1.0}),
    Analyte.ALT: ("U/L", {"u/l": 1.0, "iu/l": 1.0}),
    Analyte.AST: ("U/L", {"u/l": 1.0, "iu/l": 1.0}),
    Analyte.TRIGLYCERIDES: ("mg/dL", {"mg/dl": 1.0, "mmol/l": 88.57}),
    Analyte.CREATININE: ("mg/dL", {"mg/dl": 1.0, "umol/l": 1 / 88.4}),
    Analyte.CD19_ABSOLUTE: (
        "cells/uL",
        {"cells/ul": 1.0, "/ul": 1.0, "10^9/l": 1000.0, "10^3/ul": 1000.0},
    ),
    Analyte.CD19_PERCENT: ("%", {"%": 1.0, "%lymphocytes": 1.0, "%oflymphocytes": 1.0}),
}


def fold(unit: str) -> str:
    """A unit spelling folded for matching: lower case, no spaces, u for µ, ^ for *."""
    text = unit.strip().lower().replace(" ", "").replace("µ", "u").replace("μ", "u")
    text = text.replace("*", "^").replace("x10", "10").replace("×10", "10")
    return {"/mm3": "/ul", "cells/mm3": "cells/ul", "k/ul": "10^3/ul", "g/l(count)": "10^9/l"}.get(
        text, text
    )


@dataclass(frozen=True)
class Converted:
    """A value in the canonical unit, and a remark when it was converted."""

    value: float
    unit: str
    remark: str | None


def canonical_unit(analyte: Analyte) -> str:
    return UNITS[analyte][0]


def allowed_units(analyte: Analyte) -> list[str]:
    return sorted(UNITS[analyte][1])


def to_canonical(analyte: Analyte, value: float, unit: str) -> Converted:
    """Convert one value; raises :class:`UnknownUnitError` for an unknown unit."""
    canonical, factors = UNITS[analyte]
    factor = factors.get(fold(unit))
    if factor is None:
        raise UnknownUnitError(analyte.value, unit, allowed_units(analyte))
    if factor == 1.0 and fold(unit) == fold(canonical):
        return Converted(value, canonical, None)
    converted = round(value * factor, 6)
    remark = f"{analyte.value} {value:g} {unit} = {converted:g} {canonical}"
    return Converted(converted, canonical, remark)


def fahrenheit_to_celsius(value_f: float) -> Converted:
    """°F to °C in exact decimal arithmetic, rounded down to 0.01 °C.

    100.4 °F is exactly 38.0 °C (fever, R-CRS-1), and rounding down means a conversion never
    crosses a cut-point upwards: 100.39 °F gives 37.99 °C, not 38.0.
    """
    exact = (Decimal(str(value_f)) - 32) * 5 / 9
    celsius = float(exact.quantize(Decimal("0.01"), rounding=ROUND_FLOOR))
    return Converted(celsius, "°C", f"temperature {value_f:g} °F = {celsius:g} °C")


def celsius_to_fahrenheit(value_c: float) -> float:
    return round(value_c * 9.0 / 5.0 + 32.0, 2)


def labs_to_canonical(labs: pd.DataFrame) -> pd.DataFrame:
    """Vectorised: adds ``value_canonical`` and ``unit_canonical`` to a frame of lab results.

    ``labs`` has columns ``analyte``, ``value`` and ``unit``. Raises :class:`UnknownUnitError` for
    the first unknown (analyte, unit) pair; validate at the edge to report every row.
    """
    out = labs.copy()
    folded = out["unit"].astype(str).map(fold)
    factor = np.full(len(out), np.nan)
    canonical = np.empty(len(out), dtype=object)
    analytes = out["analyte"].astype(str).to_numpy()
    for analyte in pd.unique(analytes):
        rows = analytes == analyte
        unit, factors = UNITS[Analyte(analyte)]
        canonical[rows] = unit
        factor[rows] = folded[rows].map(factors).to_numpy(dtype=float)
        unknown = rows & np.isnan(factor)
        if unknown.any():
            first = int(np.flatnonzero(unknown)[0])
            raise UnknownUnitError(analyte, str(out["unit"].iloc[first]), sorted(factors))
    # Rounded as to_canonical rounds, so one value and a whole frame agree at every cut-point.
    out["value_canonical"] = np.round(out["value"].to_numpy(dtype=float) * factor, 6)
    out["unit_canonical"] = canonical
    return out
