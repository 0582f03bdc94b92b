"""The synthetic cohort: seeded, valid against the record models, complete, never stale, realistic
missingness (sample_data/README.md)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel

from grading.assessment import Assessment
from grading.frame import validate_frame
from grading.records import (
    Disease,
    DrugAdministration,
    InfectionEvent,
    LabResult,
    LicatsEvent,
    OutcomeEvent,
    Patient,
    Product,
)
from grading.units import labs_to_canonical
from sample_data import (
    SCENARIOS,
    SHIPPED_PATIENTS,
    SHIPPED_SEED,
    generate_cohort,
    scenario_patient_ids,
    write_cohort,
)

SHIPPED = Path(__file__).resolve().parents[2] / "sample_data" / "cohort"
TABLES = ("patients", "assessments", "labs", "drugs", "infections", "licats", "events")
MODELS: dict[str, type[BaseModel]] = {
    "patients": Patient,
    "assessments": Assessment,
    "labs": LabResult,
    "drugs": DrugAdministration,
    "infections": InfectionEvent,
    "licats": LicatsEvent,
    "events": OutcomeEvent,
}


def shipped(table: str) -> pd.DataFrame:
    """A shipped CSV as text, blanks as empty strings (exactly what an importer would see)."""
    return pd.read_csv(SHIPPED / f"{table}.csv", dtype=str, keep_default_na=False)


def test_the_same_seed_gives_the_same_frames() -> None:
    first, second = generate_cohort(25, 7), generate_cohort(25, 7)
    for table in TABLES:
        pd.testing.assert_frame_equal(getattr(first, table), getattr(second, table))


def test_a_different_seed_gives_a_different_cohort() -> None:
    first, second = generate_cohort(25, 7), generate_cohort(25, 8)
    assert not first.assessments.equals(second.assessments)
    assert not first.labs.equals(second.labs)
    assert (first.patients["infusion_at"] != second.patients["infusion_at"]).any()


def test_the_shipped_csvs_are_a_fresh_write_byte_for_byte(tmp_path: Path) -> None:
    written = write_cohort(generate_cohort(SHIPPED_PATIENTS, SHIPPED_SEED), tmp_path)
    assert sorted(written) == sorted(TABLES)
    for table, path in written.items():
        assert path.read_bytes() == (SHIPPED / f"{table}.csv").read_bytes(), (
            f"sample_data/cohort/{table}.csv is stale: run "
            "`.venv/bin/python -m sample_data --patients 40 --seed 2026 --out sample_data/cohort`"
        )


@pytest.mark.parametrize("table", TABLES)
def test_every_shipped_row_validates_with_its_record_model(table: str) -> None:
    frame = shipped(table)
    assert len(frame) > 0
    assert set(frame.columns) <= set(MODELS[table].model_fields)
    for row in frame.to_dict("records"):
        MODELS[table].model_validate({k: v for k, v in row.items() if v != ""})


def test_the_tables_have_exactly_the_record_field_names() -> None:
    cohort = generate_cohort(3, 1)
    contract_extras = {"antipyretic_or_anticytokine_given", "developmental_delay"}
    for table, model in MODELS.items():
        fields = set(model.model_fields)
        if table == "assessments":
            fields -= {"ice_items", "capd_items", "death_attributed_to", *contract_extras}
        assert set(getattr(cohort, table).columns) == fields, table
    assert "antipyretic_or_anticytokine_given" not in cohort.assessments  # from the drug log


def test_csv_conventions_iso_instants_booleans_and_blanks() -> None:
    instant = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
    assert shipped("assessments")["observed_at"].str.match(instant).all()
    assert shipped("drugs")["given_at"].str.match(instant).all()
    assert set(shipped("infections")["serious"]) == {"true", "false"}
    assert (shipped("patients")["date_of_birth"] == "").all()  # age only, never a birth date
    resolved = shipped("licats")["resolved_at"]
    assert resolved[resolved != ""].str.match(instant).all()


def test_every_disease_and_product_is_in_the_shipped_cohort() -> None:
    patients = shipped("patients")
    assert set(patients["disease"]) == {d.value for d in Disease}
    assert set(patients["product"]) == {p.value for p in Product}


def test_ids_are_pseudonymous_and_sites_are_four_to_six() -> None:
    patients = shipped("patients")
    assert patients["patient_id"].str.match(r"^S\d{2}-\d{4}$").all()
    assert patients["patient_id"].is_unique
    assert 4 <= patients["site_id"].nunique() <= 6
    for table in TABLES:
        assert set(shipped(table)["patient_id"]) <= set(patients["patient_id"]), table


def test_mostly_adults_a_few_children_and_one_aged_exactly_12() -> None:
    age = pd.to_numeric(shipped("patients")["age_years"])
    assert (age >= 18).mean() > 0.8
    assert (age < 12).sum() >= 1
    assert (age == 12).sum() == 1


def test_children_under_12_have_capd_and_adults_ice() -> None:
    a = generate_cohort(SHIPPED_PATIENTS, SHIPPED_SEED).assessments
    children, adults = a[a["age_years"] < 12], a[a["age_years"] > 12]
    assert children["ice_score"].isna().all()
    assert children["capd_score"].notna().any()
    assert adults["capd_score"].isna().all()
    assert adults["ice_score"].notna().any()


def test_sites_report_labs_in_different_units_that_all_convert() -> None:
    labs = shipped("labs")
    labs["value"] = labs["value"].astype(float)
    canonical = labs_to_canonical(labs)
    assert labs[labs["analyte"] == "anc"]["unit"].nunique() >= 2
    assert labs[labs["analyte"] == "igg"]["unit"].nunique() >= 2
    anc = canonical[canonical["analyte"] == "anc"]["value_canonical"]
    assert anc.between(0, 20_000).all()
    assert anc.median() > 1000


def test_every_patient_has_a_day_minus_5_baseline_and_a_year_of_follow_up() -> None:
    patients = shipped("patients").set_index("patient_id")
    labs = shipped("labs")
    infusion = pd.to_datetime(patients["infusion_at"]).dt.normalize()
    day = (
        pd.to_datetime(labs["collected_at"]).dt.normalize() - labs["patient_id"].map(infusion)
    ).dt.days
    first, last = day.groupby(labs["patient_id"]).min(), day.groupby(labs["patient_id"]).max()
    assert (first == -5).all()
    assert last.between(362, 365).all()


def test_tocilizumab_doses_follow_8_mg_per_kg_capped_at_800_mg() -> None:
    cohort = generate_cohort(300, 3)
    weight = cohort.patients.set_index("patient_id")["weight_kg"]
    toci = cohort.drugs[cohort.drugs["drug"] == "tocilizumab"]
    kg = toci["patient_id"].map(weight)
    limit = np.minimum(np.where(kg < 30, 12.0, 8.0) * kg, 800)
    assert len(toci) > 10
    assert (toci["dose"] <= limit + 1e-9).all()
    assert (toci["dose"] >= limit - 10).all()


def test_a_larger_cohort_passes_the_contract_checks() -> None:
    cohort = generate_cohort(300, 11)
    a = cohort.assessments
    assert validate_frame(a) == []
    cannula = a["oxygen_device"].isin(["low_flow_nasal_cannula", "high_flow_nasal_cannula"])
    assert (a.loc[cannula, "oxygen_l_min"] > 0).all()
    assert a.loc[a["oxygen_device"] == "room_air", "oxygen_l_min"].isna().all()
    assert a.loc[a["oxygen_device"].isna(), "oxygen_l_min"].isna().all()
    labs_to_canonical(cohort.labs)  # raises on any unit grading.units does not accept


def test_missingness_blank_ice_while_the_rest_of_the_check_is_recorded() -> None:
    a = shipped("assessments")
    neuro_check = a["seizure"] != ""  # the 8-hourly checks and the visits
    missed = neuro_check & (a["ice_score"] == "") & (a["capd_score"] == "")
    assert (missed & (a["temperature_c"] != "")).sum() >= 5
    assert ((a["heart_rate_bpm"] == "") & (a["temperature_c"] != "")).sum() >= 5
    assert (a["oxygen_device"] == "").sum() >= 1


def test_scenario_patients_come_first_and_are_named() -> None:
    names = [s.name for s in SCENARIOS]
    assert len(set(names)) == len(names)
    assert all(s.description and s.alert for s in SCENARIOS)
    cohort = generate_cohort(SHIPPED_PATIENTS, SHIPPED_SEED)
    ids = scenario_patient_ids(cohort)
    assert list(ids) == names
    assert list(ids.values()) == cohort.patients["patient_id"].iloc[: len(names)].tolist()
    small = generate_cohort(3, SHIPPED_SEED)
    assert list(scenario_patient_ids(small)) == names[:3]


def test_zero_patients_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        generate_cohort(0, 1)
