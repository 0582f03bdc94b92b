"""Who the patients are: sites, disease and product, age, sex, weight, dates, and the hidden
parameters every later table is computed from (one NumPy draw per parameter for the whole cohort).

Rates follow published autoimmune cohorts (criteria.md 6.7): CRS in most CD19 CAR T patients, nearly
all grade 1, grade 2 in about 1 in 10, ICANS rare and grade 1 (about 4-5%); B cells return after
about 110 +/- 32 days (7.2); LICATS in many CD19-directed patients, mostly grade 1 (6.7).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from grading.records import Disease, Product
from sample_data.scenario_specs import SPECS
from sample_data.scenarios import SCENARIO_NAMES
from sample_data.specs import PatientSpec

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

SITES = ("S01", "S02", "S03", "S04", "S05")
SITE_WEIGHTS = (0.28, 0.22, 0.20, 0.17, 0.13)
FIRST_DAY = np.datetime64("2024-01-08", "s").astype(np.int64)
ENROLMENT_DAYS = 540
DAY_S = 86_400
HOUR_S = 3_600

#: (disease, product, share) of the randomly drawn patients.
MIX: tuple[tuple[Disease, Product, float], ...] = (
    (Disease.SLE, Product.CD19_CAR_T, 0.36),
    (Disease.MYOSITIS, Product.CD19_CAR_T, 0.13),
    (Disease.SYSTEMIC_SCLEROSIS, Product.CD19_CAR_T, 0.14),
    (Disease.OTHER, Product.CD19_CAR_T, 0.05),
    (Disease.SLE, Product.CD19_BCMA_CAR_T, 0.05),
    (Disease.SYSTEMIC_SCLEROSIS, Product.CD19_BCMA_CAR_T, 0.03),
    (Disease.MYOSITIS, Product.CD19_BCMA_CAR_T, 0.02),
    (Disease.MUSK_MYASTHENIA_GRAVIS, Product.MUSK_CAAR_T, 0.08),
    (Disease.PEMPHIGUS_VULGARIS, Product.DSG3_CAAR_T, 0.08),
    (Disease.OTHER, Product.CAR_TREG, 0.04),
    (Disease.SLE, Product.CAR_TREG, 0.02),
)
#: disease -> (share female, adult mean age, adult SD)
DEMOGRAPHY: dict[Disease, tuple[float, float, float]] = {
    Disease.SLE: (0.9, 36, 11),
    Disease.MYOSITIS: (0.65, 50, 12),
    Disease.SYSTEMIC_SCLEROSIS: (0.8, 50, 11),
    Disease.MUSK_MYASTHENIA_GRAVIS: (0.85, 50, 14),
    Disease.PEMPHIGUS_VULGARIS: (0.55, 51, 13),
    Disease.OTHER: (0.6, 45, 14),
}
#: product -> (P(CRS), P(grade 2 | CRS), P(ICANS | CRS))
TOXICITY: dict[Product, tuple[float, float, float]] = {
    Product.CD19_CAR_T: (0.85, 0.10, 0.045),
    Product.CD19_BCMA_CAR_T: (0.90, 0.15, 0.05),
    Product.MUSK_CAAR_T: (0.20, 0.05, 0.01),
    Product.DSG3_CAAR_T: (0.20, 0.05, 0.01),
    Product.CAR_TREG: (0.15, 0.05, 0.01),
}

#: Organs LICATS affects, by disease (previously affected organs, Hagen 2025).
ORGANS: dict[Disease, tuple[str, ...]] = {
    Disease.SLE: ("skin", "skin", "kidney", "joint", "serosa"),
    Disease.MYOSITIS: ("muscle", "muscle", "lung", "skin"),
    Disease.SYSTEMIC_SCLEROSIS: ("skin", "skin", "lung", "heart", "gut"),
    Disease.MUSK_MYASTHENIA_GRAVIS: ("neuromuscular",),
    Disease.PEMPHIGUS_VULGARIS: ("skin", "mucosa"),
    Disease.OTHER: ("skin", "joint", "kidney"),
}


@dataclass(frozen=True)
class People:
    """One row per patient: public columns (``patient_id`` ... ``weight_kg``) and hidden
    parameters; ``specs`` holds the scenario patients' hand-written courses (first rows)."""

    frame: pd.DataFrame
    specs: tuple[PatientSpec, ...]

    @property
    def size(self) -> int:
        return len(self.frame)


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


def draw_people(patients: int, seed: int) -> People:
    rng = _rng(seed, 1)
    specs = tuple(SPECS[name] for name in SCENARIO_NAMES[:patients])
    n = patients
    k = len(specs)
    scenario = np.arange(n) < k

    mix = rng.choice(len(MIX), size=n, p=[share for *_, share in MIX])
    disease = np.array([MIX[i][0].value for i in mix], dtype=object)
    product = np.array([MIX[i][1].value for i in mix], dtype=object)
    site = rng.choice(len(SITES), size=n, p=SITE_WEIGHTS)
    female_share, mean_age, sd_age = (
        np.array([DEMOGRAPHY[Disease(d)][j] for d in disease]) for j in range(3)
    )
    sex = np.where(rng.random(n) < female_share, "female", "male").astype(object)
    age = np.clip(np.rint(rng.normal(mean_age, sd_age)), 18, 75)
    band = rng.random(n)
    age = np.where(band < 0.04, rng.integers(6, 12, n), age)  # children under 12
    age = np.where((band >= 0.04) & (band < 0.07), rng.integers(13, 18, n), age)
    adult_weight = np.where(sex == "female", rng.normal(68, 13, n), rng.normal(83, 13, n))
    weight = np.where(age < 12, 2 * age + 9 + rng.normal(0, 3, n), adult_weight)
    weight = np.where((age >= 12) & (age < 18), rng.normal(52, 9, n), weight)
    weight = np.round(np.clip(weight, 16, 150), 1)

    for i, spec in enumerate(specs):
        site[i], disease[i], product[i] = spec.site, spec.disease.value, spec.product.value
        age[i], sex[i], weight[i] = spec.age_years, spec.sex.value, spec.weight_kg

    day = FIRST_DAY + rng.integers(0, ENROLMENT_DAYS, n) * DAY_S
    infusion = day + 9 * HOUR_S + rng.integers(0, 60, n) * 300
    infusion = np.where(scenario, day + 10 * HOUR_S, infusion)
    car_t = np.isin(product, [Product.CD19_CAR_T.value, Product.CD19_BCMA_CAR_T.value])
    lymphodepleted = car_t | (rng.random(n) < 0.5)
    ld = day - 5 * DAY_S + 8 * HOUR_S + rng.integers(0, 12, n) * 300
    frame = pd.DataFrame(
        {
            "site": site.astype(np.int64),
            "site_id": np.array(SITES, dtype=object)[site],
            "disease": disease,
            "product": product,
            "age": age.astype(np.int64),
            "sex": sex,
            "weight_kg": weight,
            "day0_s": day,
            "infusion_s": infusion,
            "ld_s": np.where(lymphodepleted, ld, -1),
            "car_t": car_t,
            "scenario": scenario,
        }
    )
    frame["patient_id"] = _ids(frame["site_id"])
    _hidden(frame, rng, specs)
    return People(frame, specs)


def _ids(site_id: pd.Series) -> pd.Series:
    """Pseudonymous study ids: site and a running number within the site ('S03-0012')."""
    number = site_id.groupby(site_id).cumcount() + 1
    return site_id + "-" + number.map("{:04d}".format)


def _hidden(frame: pd.DataFrame, rng: np.random.Generator, specs: tuple[PatientSpec, ...]) -> None:
    """Hidden parameters of the acute course, the labs and the late events."""
    n = len(frame)
    product = frame["product"].to_numpy()
    disease = frame["disease"].to_numpy()
    car_t = frame["car_t"].to_numpy()
    depleted = frame["ld_s"].to_numpy() >= 0
    scenario = frame["scenario"].to_numpy()
    p_crs, p_g2, p_icans = (np.array([TOXICITY[Product(p)][j] for p in product]) for j in range(3))
    crs = ~scenario & (rng.random(n) < p_crs)
    frame["crs"] = crs
    frame["crs_g2"] = crs & (rng.random(n) < p_g2)
    frame["crs_icans"] = crs & (rng.random(n) < p_icans)
    frame["crs_onset_h"] = np.clip(12 + rng.gamma(2.0, 14.0, n), 6, 150)
    frame["fever_h"] = np.clip(8 + rng.gamma(2.0, 12.0, n), 8, 64)
    frame["fever_max_c"] = np.round(rng.uniform(38.2, 39.6, n), 1)
    frame["support_offset_h"] = rng.uniform(4, 16, n)
    frame["support_h"] = rng.uniform(12, 36, n)
    frame["support_o2"] = rng.random(n) < 0.5
    frame["support_flow"] = rng.integers(1, 4, n).astype(float)
    frame["icans_delay_h"] = rng.uniform(4, 36, n)
    frame["icans_h"] = rng.uniform(8, 30, n)
    frame["icans_ice"] = rng.integers(7, 10, n)
    frame["icans_capd"] = rng.integers(2, 9, n)
    # Blood counts: lymphodepletion (fludarabine/cyclophosphamide) causes the early nadir.
    frame["anc_base"] = rng.lognormal(np.log(3800), 0.3, n)
    frame["anc_depth"] = np.where(depleted, rng.uniform(0.5, 0.93, n), rng.uniform(0.05, 0.25, n))
    frame["anc_center"] = rng.uniform(5, 9, n)
    frame["anc_width"] = rng.uniform(2.5, 5, n)
    late = ~scenario & depleted & (rng.random(n) < 0.01)  # rare: neutropenia past day 14
    frame.loc[late, "anc_depth"] = 0.96
    frame.loc[late, "anc_center"] = rng.uniform(10, 14, n)[late]
    frame.loc[late, "anc_width"] = rng.uniform(6, 9, n)[late]
    frame["lymph_base"] = rng.lognormal(np.log(1300), 0.35, n)
    frame["lymph_nadir"] = np.where(depleted, rng.uniform(0.08, 0.25, n), rng.uniform(0.6, 0.9, n))
    frame["lymph_tau"] = rng.uniform(15, 40, n)
    frame["plt_base"] = np.clip(rng.normal(250, 55, n), 130, 450)
    frame["plt_depth"] = np.where(depleted, rng.uniform(0.15, 0.55, n), rng.uniform(0, 0.1, n))
    male = frame["sex"].to_numpy() == "male"
    sle = disease == Disease.SLE.value
    frame["hb_base"] = (
        np.where(male, rng.normal(13.8, 1.2, n), rng.normal(12.4, 1.1, n)) - 0.6 * sle
    )
    frame["crp_base"] = np.clip(rng.lognormal(np.log(3), 0.7, n), 0.3, 40)
    frame["crp_peak"] = rng.uniform(10, 40, n)
    frame["ferritin_base"] = np.clip(rng.lognormal(np.log(180), 0.6, n) * (1 + 0.5 * sle), 20, 1500)
    frame["ferritin_rise"] = rng.uniform(0.15, 0.45, n)
    # Scenario patients keep ferritin < 2 x ULN so that the IEC-HS screen fires in its scenario only.
    frame.loc[scenario, "ferritin_base"] = np.minimum(frame.loc[scenario, "ferritin_base"], 220)
    frame["fib_base"] = np.clip(rng.normal(330, 60, n), 180, 550)
    frame["igg_base"] = np.clip(rng.normal(1050, 250, n) - 100 * sle, 450, 1900)
    bcma = product == Product.CD19_BCMA_CAR_T.value
    floor = np.where(car_t, rng.uniform(0.6, 0.85, n), rng.uniform(0.9, 1.0, n))
    frame["igg_floor"] = np.where(bcma, rng.uniform(0.3, 0.5, n), floor)
    frame["b_pct_base"] = rng.uniform(3, 15, n)
    recovery = np.where(bcma, rng.normal(140, 40, n), rng.normal(110, 32, n))
    frame["b_recovery_day"] = np.where(car_t, np.clip(recovery, 55, 200), np.nan)
    frame["b_rebound_pct"] = rng.uniform(6, 25, n)
    frame["creat_base"] = np.clip(rng.normal(0.8, 0.15, n), 0.45, 1.3)
    frame["levetiracetam"] = (
        ~scenario & sle & (frame["age"].to_numpy() >= 18) & (rng.random(n) < 0.06)
    )
    # LICATS (Hagen 2025): in previously affected organs during B-cell aplasia, median onset day 10,
    # median duration 11 days, grade 1 65%, grade 2 30%, grade 3 the rest.
    frame["licats"] = ~scenario & car_t & (rng.random(n) < 0.45)
    frame["licats_onset_day"] = np.clip(np.rint(rng.lognormal(np.log(10), 0.35, n)), 4, 28)
    frame["licats_days"] = np.clip(np.rint(rng.lognormal(np.log(11), 0.4, n)), 3, 40)
    frame["licats_grade"] = rng.choice([1, 2, 3], size=n, p=[0.65, 0.30, 0.05])
    pick = rng.random(n)
    frame["licats_organ"] = [
        ORGANS[Disease(d)][int(u * len(ORGANS[Disease(d)]))]
        for d, u in zip(disease, pick, strict=True)
    ]
    frame["licats_resolved"] = rng.random(n) > 0.03
    frame["infections"] = np.minimum(rng.poisson(np.where(car_t, 0.35, 0.2)), 3) * ~scenario
    for i, spec in enumerate(specs):
        if spec.b_recovery_day is not None:
            frame.loc[i, "b_recovery_day"] = spec.b_recovery_day
        if spec.igg_floor is not None:
            frame.loc[i, "igg_floor"] = spec.igg_floor
