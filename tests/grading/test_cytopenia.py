"""CTCAE v5.0 cytopenia grades (grading.ctcae_v5_cytopenia via grading.cytopenia), the policy, the
G-CSF caveat, and the vectorised cohort frame against the per-sample function.

Bands written here from CTCAE v5.0 as the brief transcribes it, not from the code: every cut-point is
tested on both sides (ANC 1500/1499, 1000/999, 500/499; platelets 75/74.9, 50/49.9, 25/24.9;
haemoglobin 10.0/9.9, 8.0/7.9) and at the LLN.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from grading import ctcae_v5_cytopenia as ctcae
from grading.criteria import evaluate_domain
from grading.cytopenia import (
    CTCAE_COLUMNS,
    DEFAULT_POLICY,
    G_CSF_CAVEAT,
    CytopeniaPolicy,
    LabPatientMismatchError,
    ctcae_frame,
    grade_cytopenias,
)
from grading.enums import Status
from grading.records import Analyte, Disease, LabResult, Patient, Product, Sex
from grading.units import UnknownUnitError

INFUSION = datetime(2026, 3, 1, 10, 0)


def patient(sex: Sex | None = Sex.FEMALE, patient_id: str = "P1") -> Patient:
    return Patient(
        patient_id=patient_id,
        site_id="S1",
        disease=Disease.SLE,
        product=Product.CD19_CAR_T,
        infusion_at=INFUSION,
        sex=sex,
    )


def lab(
    analyte: Analyte, value: float, unit: str, day: int = 3, patient_id: str = "P1"
) -> LabResult:
    return LabResult(
        patient_id=patient_id,
        collected_at=INFUSION + timedelta(days=day, hours=2),
        analyte=analyte,
        value=value,
        unit=unit,
    )


def one(analyte: Analyte, value: float, unit: str, **kwargs: float) -> tuple[int, str]:
    """(grade, rule id) of one sample of a woman under the given policy fields."""
    policy = CytopeniaPolicy.model_validate(kwargs)
    (result,) = grade_cytopenias(patient(), [lab(analyte, value, unit)], policy)
    return result.grade, result.hits[0].rule_id


# --- Neutrophil count decreased ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("anc", "grade", "rule"),
    [
        (5000, 0, "CTCAE5-NEUT-0"),
        (1800, 0, "CTCAE5-NEUT-0"),  # at the default LLN: not below it
        (1799, 1, "CTCAE5-NEUT-1"),
        (1500, 1, "CTCAE5-NEUT-1"),  # "<LLN - 1500": 1500 is grade 1
        (1499, 2, "CTCAE5-NEUT-2"),
        (1000, 2, "CTCAE5-NEUT-2"),  # "<1500 - 1000": 1000 is grade 2
        (999, 3, "CTCAE5-NEUT-3"),
        (500, 3, "CTCAE5-NEUT-3"),  # "<1000 - 500": 500 is grade 3
        (499, 4, "CTCAE5-NEUT-4"),
        (0, 4, "CTCAE5-NEUT-4"),
    ],
)
def test_neutrophil_bands_on_both_sides_of_every_cut_point(
    anc: float, grade: int, rule: str
) -> None:
    assert one(Analyte.ANC, anc, "cells/uL") == (grade, rule)


def test_anc_of_1500_is_grade_0_when_the_lab_lln_is_1500() -> None:
    assert one(Analyte.ANC, 1500, "cells/uL", anc_lln_cells_ul=1500) == (0, "CTCAE5-NEUT-0")
    assert one(Analyte.ANC, 1499, "cells/uL", anc_lln_cells_ul=1500) == (2, "CTCAE5-NEUT-2")


def test_a_site_lln_of_2000_makes_1900_grade_1() -> None:
    assert one(Analyte.ANC, 1900, "cells/uL") == (0, "CTCAE5-NEUT-0")
    assert one(Analyte.ANC, 1900, "cells/uL", anc_lln_cells_ul=2000) == (1, "CTCAE5-NEUT-1")


def test_an_lln_below_1500_does_not_lower_grade_2() -> None:
    # CTCAE grade 2 is "<1500 - 1000" whatever the LLN.
    assert one(Analyte.ANC, 1450, "cells/uL", anc_lln_cells_ul=1400) == (2, "CTCAE5-NEUT-2")


def test_anc_in_10e9_per_litre_is_converted_with_a_remark() -> None:
    (result,) = grade_cytopenias(patient(), [lab(Analyte.ANC, 0.5, "10^9/L")])
    assert (result.value, result.unit, result.grade) == (500.0, "cells/uL", 3)
    assert result.remarks == ("anc 0.5 10^9/L = 500 cells/uL",)
    (below,) = grade_cytopenias(patient(), [lab(Analyte.ANC, 0.499, "x10*9/L")])
    assert (below.value, below.grade) == (499.0, 4)
    (thousand,) = grade_cytopenias(patient(), [lab(Analyte.ANC, 1.0, "10^3/uL")])
    assert (thousand.value, thousand.grade) == (1000.0, 2)


# --- Platelet count decreased -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("platelets", "grade"),
    [
        (150, 0),
        (149, 1),
        (75, 1),
        (74.9, 2),
        (50, 2),
        (49.9, 3),
        (25, 3),
        (24.9, 4),
        (0, 4),
    ],
)
def test_platelet_bands_on_both_sides_of_every_cut_point(platelets: float, grade: int) -> None:
    assert one(Analyte.PLATELETS, platelets, "10^9/L")[0] == grade


def test_platelets_per_microlitre_are_converted() -> None:
    (g2,) = grade_cytopenias(patient(), [lab(Analyte.PLATELETS, 74_999, "/uL")])
    (g1,) = grade_cytopenias(patient(), [lab(Analyte.PLATELETS, 75_000, "/uL")])
    assert (g2.value, g2.grade, g1.value, g1.grade) == (74.999, 2, 75.0, 1)


# --- Anemia -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hemoglobin", "grade"),
    [(12.0, 0), (11.9, 1), (10.0, 1), (9.9, 2), (8.0, 2), (7.9, 3), (3.0, 3)],
)
def test_anemia_bands_for_a_woman(hemoglobin: float, grade: int) -> None:
    assert one(Analyte.HEMOGLOBIN, hemoglobin, "g/dL")[0] == grade


def test_anemia_lln_depends_on_sex() -> None:
    man = patient(Sex.MALE)
    graded = grade_cytopenias(
        man,
        [
            lab(Analyte.HEMOGLOBIN, 13.5, "g/dL", day=1),
            lab(Analyte.HEMOGLOBIN, 13.4, "g/dL", day=2),
        ],
    )
    assert [(r.grade, r.lln) for r in graded] == [(0, 13.5), (1, 13.5)]
    assert all(r.remarks == () for r in graded)


@pytest.mark.parametrize(
    ("sex", "said"), [(None, "not recorded"), (Sex.OTHER, "recorded as other")]
)
def test_unknown_sex_uses_the_unknown_sex_lln_and_says_so(sex: Sex | None, said: str) -> None:
    (at_lln,) = grade_cytopenias(patient(sex), [lab(Analyte.HEMOGLOBIN, 12.0, "g/dL")])
    (below,) = grade_cytopenias(patient(sex), [lab(Analyte.HEMOGLOBIN, 11.9, "g/dL")])
    assert (at_lln.grade, at_lln.lln, below.grade) == (0, 12.0, 1)
    assert at_lln.remarks == (
        f"sex {said}: haemoglobin LLN 12 g/dL (the policy's value for unknown sex) used for CTCAE "
        "anemia grade 1",
    )


def test_haemoglobin_80_g_per_litre_is_8_g_per_dl_and_grade_2() -> None:
    (result,) = grade_cytopenias(patient(), [lab(Analyte.HEMOGLOBIN, 80, "g/L")])
    assert (result.value, result.unit, result.grade) == (8.0, "g/dL", 2)
    assert result.remarks == ("hemoglobin 80 g/L = 8 g/dL",)
    (g3,) = grade_cytopenias(patient(), [lab(Analyte.HEMOGLOBIN, 79, "g/L")])
    assert (g3.value, g3.grade) == (7.9, 3)


def test_anemia_is_never_grade_4_from_haemoglobin_alone() -> None:
    (result,) = grade_cytopenias(patient(), [lab(Analyte.HEMOGLOBIN, 2.0, "g/dL")])
    assert result.grade == 3
    assert ctcae.ANEMIA_GRADE_4_TEXT in result.remarks
    assert "never assigned from haemoglobin alone" in ctcae.ANEMIA_GRADE_4_TEXT
    assert [c.grade for c in ctcae.INSTRUMENT.rows(ctcae.ANEMIA)] == [0, 1, 2, 3]
    (g2,) = grade_cytopenias(patient(), [lab(Analyte.HEMOGLOBIN, 8.0, "g/dL")])
    assert ctcae.ANEMIA_GRADE_4_TEXT not in g2.remarks


# --- Results, table and policy ----------------------------------------------------------------


def test_result_names_the_row_its_source_and_the_unconfirmed_evidence() -> None:
    (result,) = grade_cytopenias(patient(), [lab(Analyte.ANC, 1000, "cells/uL")])
    (hit,) = result.hits
    assert hit.rule_id == "CTCAE5-NEUT-2"
    assert hit.source_text == "<1500 - 1000/mm3; <1.5 - 1.0 x 10e9 /L"
    assert (
        hit.citation == "NCI CTCAE v5.0 (27 Nov 2017), Investigations: Neutrophil count decreased"
    )
    assert hit.evidence == "U"
    assert "not confirmed in criteria.md — verify against the CTCAE v5.0 document" in hit.note
    assert (result.term, result.status, result.evidence) == (
        "Neutrophil count decreased",
        Status.GRADED,
        "U",
    )
    assert result.reason == (
        "Neutrophil count decreased grade 2: 1000 cells/uL (LLN 1800) [CTCAE5-NEUT-2] [U]"
    )


def test_grade_0_is_no_toxicity_and_other_analytes_are_skipped() -> None:
    results = grade_cytopenias(
        patient(), [lab(Analyte.CRP, 5, "mg/L"), lab(Analyte.PLATELETS, 300, "10^9/L")]
    )
    assert [(r.analyte, r.grade, r.status) for r in results] == [
        (Analyte.PLATELETS, 0, Status.NO_TOXICITY)
    ]


def test_results_come_in_time_order() -> None:
    results = grade_cytopenias(
        patient(), [lab(Analyte.ANC, 400, "cells/uL", day=5), lab(Analyte.ANC, 1200, "/uL", day=2)]
    )
    assert [(r.study_day, r.grade) for r in results] == [(2, 2), (5, 4)]


def test_every_row_carries_source_citation_and_evidence_u_with_unique_ids() -> None:
    ids = [c.rule_id for c in ctcae.CRITERIA]
    assert len(ids) == len(set(ids)) == 14
    for c in ctcae.CRITERIA:
        assert c.source_text
        assert c.citation.startswith("NCI CTCAE v5.0")
        assert c.evidence == "U"
        assert ctcae.VERIFY in c.note


@pytest.mark.parametrize(
    ("domain", "field", "below", "cuts"),
    [
        (ctcae.NEUTROPHILS, ctcae.ANC, ctcae.ANC_BELOW_LLN, (1500, 1000, 500)),
        (ctcae.PLATELETS, ctcae.PLT, ctcae.PLT_BELOW_LLN, (75.0, 50.0, 25.0)),
        (ctcae.ANEMIA, ctcae.HB, ctcae.HB_BELOW_LLN, (10.0, 8.0)),
    ],
)
def test_rows_partition_every_value_exactly_once(
    domain: str, field: str, below: str, cuts: tuple[float, ...]
) -> None:
    values = sorted({0.0, *cuts, *(c - 0.001 for c in cuts), *(c + 0.001 for c in cuts), 1e6})
    for value in values:
        for below_lln in (False, True):
            fired = [
                c
                for c in ctcae.INSTRUMENT.rows(domain)
                if c.holds({field: value, below: below_lln})
            ]
            assert len(fired) == 1, (value, below_lln, [c.rule_id for c in fired])
    blank = evaluate_domain(ctcae.INSTRUMENT, domain, {field: None, below: False})
    assert blank.grade is None  # a blank value is never grade 0


def test_policy_defaults_and_their_documentation() -> None:
    policy = CytopeniaPolicy()
    assert (
        policy.anc_lln_cells_ul,
        policy.platelets_lln_10e9_l,
        policy.hemoglobin_lln_female_g_dl,
        policy.hemoglobin_lln_male_g_dl,
        policy.hemoglobin_lln_unknown_sex_g_dl,
    ) == (1800, 150, 12.0, 13.5, 12.0)
    rows = {row["field"]: row for row in CytopeniaPolicy.describe_fields()}
    for name, row in rows.items():
        if name == "name":
            continue
        assert row["evidence"] in {"C", "S", "U", "policy"}, name
        assert all(row[key] for key in ("source", "rationale", "description")), name
    assert rows["anc_lln_cells_ul"]["unit"] == "cells/uL"
    assert "Sites should set their lab's LLN" in rows["anc_lln_cells_ul"]["description"]
    assert rows["iec_hs_ferritin_uln_ng_ml"]["evidence"] == "U"


@pytest.mark.parametrize(
    "bad",
    [
        {"anc_lln_cells_ul": 500},
        {"platelets_lln_10e9_l": 20},
        {"hemoglobin_lln_female_g_dl": 120},  # g/L entered where g/dL is expected
        {"icaht_unsampled_days": "carried_forward"},
        {"icaht_late_min_days": 1},
        {"unknown_field": 1},
    ],
)
def test_policy_refuses_implausible_or_unknown_settings(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        CytopeniaPolicy.model_validate(bad)


def test_policy_is_frozen() -> None:
    with pytest.raises(ValidationError):
        DEFAULT_POLICY.anc_lln_cells_ul = 2000  # type: ignore[misc]


def test_another_patients_lab_is_refused() -> None:
    with pytest.raises(LabPatientMismatchError, match="P2"):
        grade_cytopenias(patient(), [lab(Analyte.ANC, 400, "cells/uL", patient_id="P2")])


def test_an_unknown_unit_is_refused_at_the_edge_and_by_the_grader() -> None:
    with pytest.raises(ValidationError, match="unknown_unit"):
        lab(Analyte.ANC, 400, "mg/dL")
    unvalidated = LabResult.model_construct(
        patient_id="P1",
        collected_at=INFUSION,
        analyte=Analyte.ANC,
        value=400.0,
        unit="mg/dL",
        loinc=None,
    )
    with pytest.raises(UnknownUnitError):
        grade_cytopenias(patient(), [unvalidated])


# --- G-CSF caveat -----------------------------------------------------------------------------


def test_g_csf_caveat_quotes_greco_2024_and_sits_next_to_neutropenia() -> None:
    assert "Prophylactic use of G-CSF is not recommended" in G_CSF_CAVEAT.source_text
    assert "flare" in G_CSF_CAVEAT.text
    assert G_CSF_CAVEAT.evidence == "C"
    assert "Greco" in G_CSF_CAVEAT.citation
    assert "6.7" in G_CSF_CAVEAT.citation
    results = grade_cytopenias(
        patient(),
        [
            lab(Analyte.ANC, 400, "cells/uL", day=1),
            lab(Analyte.ANC, 4000, "cells/uL", day=2),
            lab(Analyte.PLATELETS, 10, "10^9/L", day=3),
        ],
    )
    assert [r.caveats for r in results] == [(G_CSF_CAVEAT,), (), ()]


# --- Vectorised cohort frame ------------------------------------------------------------------


def _frame(labs: list[LabResult]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "patient_id": [x.patient_id for x in labs],
            "collected_at": [x.collected_at for x in labs],
            "analyte": [x.analyte.value for x in labs],
            "value": [x.value for x in labs],
            "unit": [x.unit for x in labs],
        }
    )


def _agree(labs: list[LabResult], sexes: dict[str, Sex | None], policy: CytopeniaPolicy) -> None:
    frame = _frame(labs)
    frame.index = pd.RangeIndex(100, 100 + len(frame))  # the index is kept
    out = ctcae_frame(frame, sexes, policy)
    assert list(out.index) == list(frame.index)
    for (_, row), source in zip(out.iterrows(), labs, strict=True):
        person = patient(sexes.get(source.patient_id), source.patient_id)
        results = grade_cytopenias(person, [source], policy)
        if not results:
            assert pd.isna(row["ctcae_grade"])
            assert pd.isna(row["ctcae_rule"])
            assert pd.isna(row["ctcae_term"])
            assert np.isnan(row["ctcae_lln"])
            continue
        (expected,) = results
        assert row["value_canonical"] == expected.value
        assert (row["ctcae_grade"], row["ctcae_rule"]) == (expected.grade, expected.hits[0].rule_id)
        assert (row["ctcae_term"], row["ctcae_lln"]) == (expected.term, expected.lln)
        sex_remark = [r for r in expected.remarks if r.startswith("sex ")]
        if sex_remark:
            assert row["ctcae_remark"] == sex_remark[0]
        else:
            assert pd.isna(row["ctcae_remark"])


def test_vectorised_frame_agrees_with_the_per_sample_function_at_every_cut_point() -> None:
    sexes: dict[str, Sex | None] = {"F": Sex.FEMALE, "M": Sex.MALE, "U": None, "O": Sex.OTHER}
    labs = [
        lab(analyte, value, unit, patient_id=pid)
        for pid in (*sexes, "absent")
        for analyte, unit, values in (
            (Analyte.ANC, "cells/uL", (2000, 1800, 1799, 1500, 1499, 1000, 999, 500, 499, 0)),
            (Analyte.ANC, "10^9/L", (1.5, 1.0, 0.5, 0.499)),
            (Analyte.PLATELETS, "10^9/L", (150, 149, 75, 74.9, 50, 49.9, 25, 24.9)),
            (Analyte.HEMOGLOBIN, "g/dL", (13.5, 13.4, 12.0, 11.9, 10.0, 9.9, 8.0, 7.9)),
            (Analyte.HEMOGLOBIN, "g/L", (100, 99, 80, 79)),
            (Analyte.HEMOGLOBIN, "mmol/L", (6.2, 4.9)),
            (Analyte.CRP, "mg/dL", (3.0,)),
        )
        for value in values
    ]
    _agree(labs, sexes, DEFAULT_POLICY)
    out = ctcae_frame(_frame(labs), sexes)
    assert set(CTCAE_COLUMNS) <= set(out.columns)
    women = out[(out["patient_id"] == "F") & (out["analyte"] == "anc")]
    assert women["ctcae_grade"].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 1, 2, 3, 4]


UNITS = {
    Analyte.ANC: ("cells/uL", "10^9/L"),
    Analyte.PLATELETS: ("10^9/L", "/uL"),
    Analyte.HEMOGLOBIN: ("g/dL", "g/L", "mmol/L"),
    Analyte.FERRITIN: ("ng/mL",),
}


@st.composite
def labs_and_sexes(draw: st.DrawFn) -> tuple[list[LabResult], dict[str, Sex | None]]:
    pids = ["A", "B", "C"]
    sexes = {pid: draw(st.sampled_from([Sex.FEMALE, Sex.MALE, Sex.OTHER, None])) for pid in pids}
    labs = []
    for _ in range(draw(st.integers(1, 25))):
        analyte = draw(st.sampled_from(list(UNITS)))
        unit = draw(st.sampled_from(UNITS[analyte]))
        value = draw(
            st.one_of(
                st.floats(0, 250_000, allow_nan=False),
                st.integers(0, 2000).map(float),
                st.sampled_from([0.5, 1.0, 1.5, 75.0, 50.0, 25.0, 8.0, 10.0, 80.0, 100.0]),
            )
        )
        labs.append(lab(analyte, value, unit, patient_id=draw(st.sampled_from(pids))))
    return labs, sexes


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    case=labs_and_sexes(),
    anc_lln=st.sampled_from([1500.0, 1800.0, 2000.0]),
    hb_female=st.sampled_from([11.5, 12.0]),
)
def test_vectorised_frame_agrees_with_the_per_sample_function_on_random_labs(
    case: tuple[list[LabResult], dict[str, Sex | None]], anc_lln: float, hb_female: float
) -> None:
    labs, sexes = case
    policy = CytopeniaPolicy(anc_lln_cells_ul=anc_lln, hemoglobin_lln_female_g_dl=hb_female)
    _agree(labs, sexes, policy)
