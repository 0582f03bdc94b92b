"""Unit conversions both ways, at the edge (criteria.md 8.2)."""

from __future__ import annotations

import pandas as pd
import pytest

from grading.records import Analyte
from grading.units import (
    UnknownUnitError,
    canonical_unit,
    celsius_to_fahrenheit,
    fahrenheit_to_celsius,
    fold,
    labs_to_canonical,
    to_canonical,
)


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "expected"),
    [
        (Analyte.CRP, 3.0, "mg/dL", 30.0),  # CAR-HEMATOTOX cut-off: 3.0 mg/dL = 30 mg/L
        (Analyte.CRP, 30.0, "mg/L", 30.0),
        (Analyte.FIBRINOGEN, 1.5, "g/L", 150.0),  # 150 mg/dL = 1.5 g/L
        (Analyte.IGG, 4.0, "g/L", 400.0),  # 400 mg/dL = 4 g/L
        (Analyte.IGG, 4.01, "g/l", 401.0),
        (Analyte.ANC, 0.5, "10^9/L", 500.0),  # 500/uL = 0.5 x 10^9/L
        (Analyte.ANC, 0.5, "10*9/L", 500.0),  # UCUM spelling
        (Analyte.ANC, 0.5, "x10^3/µL", 500.0),
        (Analyte.ANC, 500, "cells/mm3", 500.0),
        (Analyte.PLATELETS, 50_000, "/uL", 50.0),
        (Analyte.PLATELETS, 50, "10^3/uL", 50.0),
        (Analyte.HEMOGLOBIN, 90, "g/L", 9.0),  # 9 g/dL = 90 g/L
        (Analyte.FERRITIN, 500, "ug/L", 500.0),  # ng/mL = ug/L
        (Analyte.CD19_ABSOLUTE, 0.02, "10^9/L", 20.0),
    ],
)
def test_common_units_convert_to_the_canonical_unit(
    analyte: Analyte, value: float, unit: str, expected: float
) -> None:
    converted = to_canonical(analyte, value, unit)
    assert converted.value == pytest.approx(expected)
    assert converted.unit == canonical_unit(analyte)
    if fold(unit) == fold(canonical_unit(analyte)):  # the same unit, spelt another way
        assert converted.remark is None
    else:
        assert converted.remark is not None
        assert f"{value:g} {unit}" in converted.remark


@pytest.mark.parametrize(
    ("analyte", "unit"), [(Analyte.IGG, "mmol/L"), (Analyte.ANC, "%"), (Analyte.CRP, "")]
)
def test_an_unknown_unit_is_an_error_never_a_guess(analyte: Analyte, unit: str) -> None:
    with pytest.raises(UnknownUnitError, match="not known"):
        to_canonical(analyte, 1.0, unit)


@pytest.mark.parametrize(
    ("fahrenheit", "celsius"),
    [(100.4, 38.0), (100.39, 37.99), (98.6, 37.0), (104.0, 40.0), (32.0, 0.0)],
)
def test_fahrenheit_to_celsius_never_rounds_up_across_the_fever_cut_point(
    fahrenheit: float, celsius: float
) -> None:
    converted = fahrenheit_to_celsius(fahrenheit)
    assert converted.value == celsius
    assert converted.remark == f"temperature {fahrenheit:g} °F = {celsius:g} °C"


@pytest.mark.parametrize("celsius", [36.6, 37.9, 38.0, 39.45])
def test_celsius_to_fahrenheit_and_back(celsius: float) -> None:
    assert fahrenheit_to_celsius(celsius_to_fahrenheit(celsius)).value == pytest.approx(
        celsius, abs=0.01
    )


def test_the_frame_conversion_equals_the_single_value_conversion() -> None:
    labs = pd.DataFrame(
        {
            "analyte": ["igg", "igg", "anc", "crp", "platelets"],
            "value": [4.01, 401.0, 0.5, 3.0, 50_000.0],
            "unit": ["g/L", "mg/dL", "10^9/L", "mg/dL", "/uL"],
        }
    )
    out = labs_to_canonical(labs)
    expected = [to_canonical(Analyte(a), v, u).value for a, v, u in labs.itertuples(index=False)]
    assert out["value_canonical"].tolist() == expected
    assert out["unit_canonical"].tolist() == ["mg/dL", "mg/dL", "cells/uL", "mg/L", "10^9/L"]


def test_the_frame_conversion_refuses_an_unknown_unit() -> None:
    labs = pd.DataFrame({"analyte": ["igg"], "value": [4.0], "unit": ["mmol/L"]})
    with pytest.raises(UnknownUnitError):
        labs_to_canonical(labs)
