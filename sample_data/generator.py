"""A seeded synthetic cohort: ENTIRELY SYNTHETIC, no real patient data.

``generate_cohort(patients, seed)`` returns seven tables whose columns are the field names of the
grading records (:mod:`grading.records`, :class:`grading.assessment.Assessment`); the same seed gives
the same tables, and ``write_cohort`` writes them as byte-identical CSVs. The first patients are the
scenario patients of :data:`sample_data.scenarios.SCENARIOS`; the rest are drawn at random.
Everything is built as NumPy arrays over the whole cohort (no Python loop over routine rows):
5,000 patients take a few seconds.

    .venv/bin/python -m sample_data --patients 5000 --seed 1   # prints rows and time
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from sample_data.acute import ASSESSMENT_COLUMNS, build_assessments, integers
from sample_data.draws import People, draw_people
from sample_data.drugs import DRUG_COLUMNS, build_drugs
from sample_data.events import INFECTION_COLUMNS, LICATS_COLUMNS, build_infections, build_licats
from sample_data.labs import LAB_COLUMNS, build_labs
from sample_data.outcomes import build_outcomes, last_record_s
from sample_data.scenarios import SCENARIO_NAMES, SCENARIOS, Scenario
from sample_data.segments import build_segments
from sample_data.timeline import assessment_template, expand, lab_template

__all__ = [
    "SCENARIOS",
    "SHIPPED_PATIENTS",
    "SHIPPED_SEED",
    "Cohort",
    "Scenario",
    "generate_cohort",
    "scenario_patient_ids",
    "write_cohort",
]

SHIPPED_PATIENTS = 40
SHIPPED_SEED = 2026
PATIENT_COLUMNS = (
    "patient_id", "site_id", "disease", "product", "infusion_at", "lymphodepletion_start_at",
    "age_years", "date_of_birth", "sex", "weight_kg",
)  # fmt: skip
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S"


@dataclass(frozen=True)
class Cohort:
    """One table per record type; column names are the records' field names."""

    patients: pd.DataFrame
    assessments: pd.DataFrame
    labs: pd.DataFrame
    drugs: pd.DataFrame
    infections: pd.DataFrame
    licats: pd.DataFrame
    #: deaths and re-treatments (sample_data.outcomes), written as ``events.csv``
    events: pd.DataFrame


def _patients(people: People) -> pd.DataFrame:
    f = people.frame
    ld = f["ld_s"].to_numpy()
    lymphodepletion = ld.astype("datetime64[s]")
    lymphodepletion[ld < 0] = np.datetime64("NaT")
    return pd.DataFrame(
        {
            "patient_id": f["patient_id"],
            "site_id": f["site_id"],
            "disease": f["disease"],
            "product": f["product"],
            "infusion_at": f["infusion_s"].to_numpy().astype("datetime64[s]"),
            "lymphodepletion_start_at": lymphodepletion,
            "age_years": integers(f["age"].to_numpy(dtype=float)),
            "date_of_birth": pd.Series([None] * len(f), dtype=object),  # never: age only
            "sex": f["sex"],
            "weight_kg": f["weight_kg"],
        }
    )


def generate_cohort(patients: int, seed: int) -> Cohort:
    """``patients`` patients (the scenario patients first), fully determined by ``seed``."""
    if patients < 1:
        raise ValueError("a cohort needs at least one patient")
    people = draw_people(patients, seed)
    segments = build_segments(people)
    schedule = assessment_template()
    rows = expand(people, schedule, np.random.default_rng([seed, 2]), after_infusion=True)
    assessments = build_assessments(
        people, segments, rows, schedule, np.random.default_rng([seed, 3])
    )
    draws = lab_template()
    lab_rows = expand(people, draws, np.random.default_rng([seed, 4]), after_infusion=False)
    labs = build_labs(people, segments, lab_rows, draws, np.random.default_rng([seed, 5]))
    drugs = build_drugs(people, assessments, labs)[list(DRUG_COLUMNS)]
    infections = build_infections(people, np.random.default_rng([seed, 6]))
    licats = build_licats(people)[list(LICATS_COLUMNS)]
    last_s = last_record_s(
        people,
        [
            (assessments, "observed_at"),
            (labs, "collected_at"),
            (drugs, "given_at"),
            (infections, "onset_at"),
            (licats, "onset_at"),
            (licats, "resolved_at"),
        ],
    )
    return Cohort(
        patients=_patients(people)[list(PATIENT_COLUMNS)],
        assessments=assessments[list(ASSESSMENT_COLUMNS)],
        labs=labs[list(LAB_COLUMNS)],
        drugs=drugs,
        infections=infections[list(INFECTION_COLUMNS)],
        licats=licats,
        # its own stream, drawn last: the other tables are the same with or without outcomes
        events=build_outcomes(people, last_s, np.random.default_rng([seed, 7])),
    )


def scenario_patient_ids(cohort: Cohort) -> dict[str, str]:
    """Scenario name -> patient id, for the scenarios the cohort holds (its first patients)."""
    ids = cohort.patients["patient_id"].tolist()
    return dict(zip(SCENARIO_NAMES, ids, strict=False))


def write_cohort(cohort: Cohort, out_dir: Path) -> dict[str, Path]:
    """Write ``<table>.csv`` per table: ISO 8601 instants, blank cells for missing values,
    ``true``/``false``, no index. Returns table name -> path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for table in fields(Cohort):
        frame: pd.DataFrame = getattr(cohort, table.name).copy()
        for column in frame.columns:
            if pd.api.types.is_bool_dtype(frame[column]):
                frame[column] = np.where(frame[column].to_numpy(dtype=bool), "true", "false")
        path = out_dir / f"{table.name}.csv"
        frame.to_csv(
            path,
            index=False,
            na_rep="",
            date_format=TIMESTAMP_FORMAT,
            float_format="%.10g",
            lineterminator="\n",
        )
        written[table.name] = path
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description="Generate a synthetic cohort and time it.")
    parser.add_argument("--patients", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="also write the CSVs here")
    args = parser.parse_args()
    start = time.perf_counter()
    cohort = generate_cohort(args.patients, args.seed)
    seconds = time.perf_counter() - start
    for table in fields(Cohort):
        print(f"{table.name:12s} {len(getattr(cohort, table.name)):>10,d} rows")
    print(f"generated {args.patients:,d} patients in {seconds:.2f} s")
    if args.out is not None:
        start = time.perf_counter()
        write_cohort(cohort, args.out)
        print(f"written to {args.out} in {time.perf_counter() - start:.2f} s")
