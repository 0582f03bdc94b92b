"""Synthetic sample cohort for demos and tests. ENTIRELY SYNTHETIC: no real patient data.

``generate_cohort(patients, seed)`` draws a seeded cohort (see :mod:`sample_data.generator`);
``sample_data/cohort/*.csv`` is ``generate_cohort(40, seed=2026)`` written by ``write_cohort``.
"""

from sample_data.generator import (
    SCENARIOS,
    SHIPPED_PATIENTS,
    SHIPPED_SEED,
    Cohort,
    Scenario,
    generate_cohort,
    scenario_patient_ids,
    write_cohort,
)

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
