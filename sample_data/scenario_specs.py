"""The clinical course of each scenario patient (see :mod:`sample_data.scenarios`).

Scenario patients are infused at 10:00, so their assessments fall at 4-hour multiples after the
infusion (14:00, 18:00, ...) and their ICE/CAPD checks at t = 4, 12, 20, ... h (06:00, 14:00,
22:00). Windows below are placed on that grid; lab values are canonical units (cells/uL, 10^9/L,
ng/mL, mg/dL).
"""

from __future__ import annotations

from grading.enums import Consciousness, Hypotension, OxygenDevice, Seizure
from grading.records import Analyte, Disease, Drug, Product, Route, Sex
from sample_data.specs import (
    Dose,
    Fever,
    Gaps,
    Infection,
    LabPath,
    Licats,
    Neuro,
    PatientSpec,
    Support,
)

H = Hypotension
O2 = OxygenDevice
NO_RECOVERY = float("inf")


def _dex(at_h: float, count: int) -> Dose:
    return Dose(at_h, Drug.DEXAMETHASONE, 10, "mg", Route.IV, every_h=6, count=count)


SPECS: dict[str, PatientSpec] = {
    "crs_grade_3_masked": PatientSpec(
        site=0, disease=Disease.SLE, product=Product.CD19_CAR_T, age_years=34, sex=Sex.FEMALE,
        weight_kg=62.0,
        fevers=(Fever(18, 44, 39.6),),
        supports=(
            Support(27, 35, H.FLUID_RESPONSIVE, O2.ROOM_AIR),
            Support(35, 51, H.ONE_VASOPRESSOR, O2.FACE_MASK, 8),
            Support(51, 59, H.ONE_VASOPRESSOR_PLUS_VASOPRESSIN, O2.BIPAP),
            Support(59, 75, H.ONE_VASOPRESSOR, O2.HIGH_FLOW_NASAL_CANNULA, 30),
            Support(75, 99, H.NONE, O2.LOW_FLOW_NASAL_CANNULA, 2),
        ),
        doses=(
            Dose(28.5, Drug.TOCILIZUMAB, 490, "mg", Route.IV, every_h=8, count=2),
            Dose(35.5, Drug.NOREPINEPHRINE, 0.05, "mcg/kg/min", Route.IV),
            Dose(51.5, Drug.VASOPRESSIN, 0.03, "units/min", Route.IV),
            _dex(37, 10),
        ),
    ),
    "icans_grade_3_seizure": PatientSpec(
        site=1, disease=Disease.MYOSITIS, product=Product.CD19_CAR_T, age_years=52,
        sex=Sex.MALE, weight_kg=84.0,
        fevers=(Fever(19, 40, 38.7),),
        neuros=(
            Neuro(67, 83, ice=8, capd=0),
            Neuro(83, 99, ice=5, capd=0, consciousness=Consciousness.AWAKENS_TO_VOICE),
            Neuro(99, 103, ice=2, capd=0, consciousness=Consciousness.AWAKENS_TO_VOICE,
                  seizure=Seizure.SELF_LIMITING),
            Neuro(103, 123, ice=2, capd=0, consciousness=Consciousness.AWAKENS_TO_VOICE),
            Neuro(123, 147, ice=5, capd=0),
            Neuro(147, 171, ice=8, capd=0),
        ),
        doses=(
            _dex(85, 12),
            Dose(100.5, Drug.LEVETIRACETAM, 1000, "mg", Route.IV),
            Dose(112.5, Drug.LEVETIRACETAM, 750, "mg", Route.PO, every_h=12, count=14),
        ),
    ),
    "crs_grade_1_over_72h": PatientSpec(
        site=2, disease=Disease.MUSK_MYASTHENIA_GRAVIS, product=Product.MUSK_CAAR_T,
        age_years=47, sex=Sex.FEMALE, weight_kg=70.0,
        fevers=(Fever(15, 115, 38.9),),
    ),
    "tocilizumab_limit": PatientSpec(
        site=3, disease=Disease.SYSTEMIC_SCLEROSIS, product=Product.CD19_BCMA_CAR_T,
        age_years=58, sex=Sex.MALE, weight_kg=85.0,
        fevers=(Fever(11, 47, 39.8),),
        supports=(
            Support(19, 39, H.FLUID_RESPONSIVE, O2.LOW_FLOW_NASAL_CANNULA, 3),
            Support(39, 63, H.ONE_VASOPRESSOR, O2.LOW_FLOW_NASAL_CANNULA, 4),
            Support(63, 83, H.FLUID_RESPONSIVE, O2.LOW_FLOW_NASAL_CANNULA, 2),
            Support(83, 95, H.NONE, O2.LOW_FLOW_NASAL_CANNULA, 1),
        ),
        doses=(
            Dose(20.5, Drug.TOCILIZUMAB, 680, "mg", Route.IV, every_h=8, count=3),
            Dose(64.5, Drug.TOCILIZUMAB, 680, "mg", Route.IV),
            Dose(39.5, Drug.NOREPINEPHRINE, 0.08, "mcg/kg/min", Route.IV),
            _dex(41, 12),
        ),
    ),
    "iec_hs_after_crs": PatientSpec(
        site=4, disease=Disease.SLE, product=Product.CD19_CAR_T, age_years=29, sex=Sex.FEMALE,
        weight_kg=58.0,
        fevers=(Fever(14, 38, 39.2),),
        supports=(Support(22, 34, H.NONE, O2.LOW_FLOW_NASAL_CANNULA, 2),),
        doses=(
            Dose(24.5, Drug.TOCILIZUMAB, 460, "mg", Route.IV),
            Dose(244, Drug.ANAKINRA, 100, "mg", Route.SC, every_h=12, count=10),
        ),
        labs=(
            LabPath(Analyte.FERRITIN, (
                (-5, 260), (0, 240), (1, 380), (2, 470), (3, 430), (4, 390), (5, 360), (6, 420),
                (7, 780), (8, 1350), (9, 2100), (10, 2900), (11, 2600), (12, 1800), (13, 1200),
                (14, 900), (18, 500), (24, 320),
            )),
            LabPath(Analyte.FIBRINOGEN, (
                (-5, 330), (0, 320), (1, 410), (2, 450), (3, 430), (4, 390), (5, 350), (6, 300),
                (7, 240), (8, 170), (9, 135), (10, 118), (11, 128), (12, 155), (13, 190),
                (14, 230), (18, 290),
            )),
            LabPath(Analyte.PLATELETS, (
                (-5, 240), (0, 225), (2, 190), (4, 160), (6, 175), (7, 150), (8, 95), (9, 58),
                (10, 41), (11, 38), (12, 52), (13, 75), (14, 98), (18, 150), (24, 200),
            )),
            LabPath(Analyte.ANC, (
                (-5, 4100), (0, 3600), (3, 1600), (5, 1100), (6, 1400), (7, 1900), (8, 1500),
                (9, 950), (10, 780), (11, 820), (12, 1100), (13, 1500), (14, 1900), (18, 2600),
            )),
        ),
    ),
    "prolonged_neutropenia": PatientSpec(
        site=0, disease=Disease.SYSTEMIC_SCLEROSIS, product=Product.CD19_CAR_T, age_years=50,
        sex=Sex.FEMALE, weight_kg=64.0,
        fevers=(Fever(30, 46, 38.4),),
        labs=(
            LabPath(Analyte.ANC, (
                (-5, 3300), (0, 1800), (1, 450), (2, 300), (4, 150), (6, 80), (8, 60), (10, 90),
                (12, 110), (14, 180), (16, 260), (18, 330), (21, 420), (24, 480), (27, 820),
                (35, 1400), (60, 2100),
            )),
            LabPath(Analyte.PLATELETS, (
                (-5, 210), (0, 150), (5, 60), (10, 45), (14, 60), (21, 90), (28, 130), (35, 170),
            )),
        ),
    ),
    "late_b_cell_recovery": PatientSpec(
        site=1, disease=Disease.SLE, product=Product.CD19_CAR_T, age_years=24, sex=Sex.FEMALE,
        weight_kg=55.0, fevers=(Fever(26, 44, 38.5),), b_recovery_day=226,
    ),
    "no_b_cell_recovery": PatientSpec(
        site=2, disease=Disease.MYOSITIS, product=Product.CD19_BCMA_CAR_T, age_years=61,
        sex=Sex.FEMALE, weight_kg=66.0, fevers=(Fever(20, 34, 38.3),),
        b_recovery_day=NO_RECOVERY, igg_floor=0.5,
    ),
    "low_igg_ivig": PatientSpec(
        site=3, disease=Disease.SLE, product=Product.CD19_BCMA_CAR_T, age_years=36,
        sex=Sex.FEMALE, weight_kg=60.0, fevers=(Fever(22, 46, 38.6),), b_recovery_day=150,
        labs=(
            LabPath(Analyte.IGG, (
                (-5, 980), (30, 390), (60, 335), (90, 350), (120, 365), (150, 385), (180, 430),
                (210, 480), (240, 540), (270, 590), (300, 640), (330, 680), (365, 720),
            )),
        ),
        infections=(
            Infection(70, "upper_respiratory", None, 2, False),
            Infection(112, "respiratory", "Haemophilus influenzae", 2, False),
        ),
    ),
    "caar_t_b_cell_depletion": PatientSpec(
        site=4, disease=Disease.PEMPHIGUS_VULGARIS, product=Product.DSG3_CAAR_T, age_years=55,
        sex=Sex.MALE, weight_kg=88.0, b_recovery_day=140,
    ),
    "serious_infections_aplasia": PatientSpec(
        site=0, disease=Disease.SLE, product=Product.CD19_CAR_T, age_years=38, sex=Sex.FEMALE,
        weight_kg=70.0, fevers=(Fever(24, 40, 38.4),), b_recovery_day=170, igg_floor=0.55,
        infections=(
            Infection(48, "respiratory", "Streptococcus pneumoniae", 3, True),
            Infection(97, "urinary", "Escherichia coli", 3, True),
            Infection(131, "skin", "Varicella zoster virus", 2, False),
        ),
    ),
    "licats": PatientSpec(
        site=1, disease=Disease.SLE, product=Product.CD19_CAR_T, age_years=27, sex=Sex.FEMALE,
        weight_kg=57.0, fevers=(Fever(16, 36, 38.6),),
        licats=(Licats(9, "kidney", 2, 22), Licats(11, "skin", 1, 17)),
        labs=(
            LabPath(Analyte.CREATININE, (
                (-5, 0.78), (0, 0.8), (8, 0.82), (9, 1.05), (10, 1.25), (11, 1.32), (12, 1.38),
                (13, 1.3), (14, 1.22), (15, 1.15), (18, 1.0), (21, 0.9), (24, 0.84),
            )),
        ),
    ),
    "missed_checks": PatientSpec(
        site=2, disease=Disease.OTHER, product=Product.CAR_TREG, age_years=41, sex=Sex.MALE,
        weight_kg=79.0,
        gaps=Gaps(
            rows_h=((63, 77),),
            ice_h=((43, 45), (115, 117), (131, 133)),
            vitals_h=((19, 29),),
            device_h=((91, 93),),
            lab_days=(4, 9),
        ),
    ),
    "child_capd": PatientSpec(
        site=3, disease=Disease.SLE, product=Product.CD19_CAR_T, age_years=9, sex=Sex.FEMALE,
        weight_kg=27.0,
        fevers=(Fever(16, 40, 39.0),),
        supports=(Support(23, 35, H.NONE, O2.LOW_FLOW_NASAL_CANNULA, 1),),
        neuros=(Neuro(27, 45, ice=10, capd=6),),
        doses=(Dose(24.5, Drug.TOCILIZUMAB, 320, "mg", Route.IV),),
    ),
    "age_12_either": PatientSpec(
        site=4, disease=Disease.SLE, product=Product.CD19_CAR_T, age_years=12, sex=Sex.FEMALE,
        weight_kg=41.0,
        fevers=(Fever(18, 36, 38.5),),
        neuros=(Neuro(27, 37, ice=9, capd=4),),
        doses=(Dose(29, Drug.TOCILIZUMAB, 320, "mg", Route.IV),),
    ),
}  # fmt: skip
