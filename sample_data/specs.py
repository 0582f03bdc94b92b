"""What happens to one synthetic patient, as data: the building blocks of the scenario patients.

Times of the acute course are hours since the CAR T infusion (``*_h``); lab paths and late events
use study days (day 0 = the calendar day of the infusion). Routine patients are drawn as arrays in
:mod:`sample_data.draws`; the hand-built scenario patients (:mod:`sample_data.scenario_specs`) are
lists of these blocks, overlaid on the same arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from grading.enums import Consciousness, Hypotension, MotorWeakness, OxygenDevice, Seizure
from grading.records import Analyte, Disease, Drug, Product, Route, Sex


@dataclass(frozen=True)
class Fever:
    """Temperature >= 38.0 °C at every assessment in [start_h, end_h), up to ``max_c``."""

    start_h: float
    end_h: float
    max_c: float


@dataclass(frozen=True)
class Support:
    """Hypotension treatment and oxygen device in [start_h, end_h) (the graded CRS domains)."""

    start_h: float
    end_h: float
    hypotension: Hypotension
    device: OxygenDevice
    flow_l_min: float | None = None


@dataclass(frozen=True)
class Neuro:
    """The neurological findings in [start_h, end_h). ``ice`` for age >= 12, ``capd`` for <= 12."""

    start_h: float
    end_h: float
    ice: int
    capd: int
    consciousness: Consciousness = Consciousness.ALERT
    seizure: Seizure = Seizure.NONE
    motor: MotorWeakness = MotorWeakness.NONE


@dataclass(frozen=True)
class Dose:
    """``count`` doses from ``at_h`` every ``every_h`` hours."""

    at_h: float
    drug: Drug
    dose: float
    unit: str
    route: Route
    every_h: float = 0.0
    count: int = 1


@dataclass(frozen=True)
class LabPath:
    """Canonical values of one analyte at study days, interpolated between the first and last."""

    analyte: Analyte
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Infection:
    day: int
    site: str
    organism: str | None
    grade: int
    serious: bool


@dataclass(frozen=True)
class Licats:
    onset_day: int
    organ: str
    grade: int
    resolved_day: int | None


@dataclass(frozen=True)
class Gaps:
    """Documentation gaps, as windows in hours since infusion: rows not recorded at all, ICE not
    done (the rest of the row filled), vital signs not recorded; and lab draw days missed."""

    rows_h: tuple[tuple[float, float], ...] = ()
    ice_h: tuple[tuple[float, float], ...] = ()
    vitals_h: tuple[tuple[float, float], ...] = ()
    device_h: tuple[tuple[float, float], ...] = ()
    lab_days: tuple[int, ...] = ()


@dataclass(frozen=True)
class PatientSpec:
    """A hand-built patient. ``b_recovery_day``: None = no B-cell depletion expected by the
    product's design unless ``depleted``; ``float('inf')`` = no recovery within the year."""

    site: int
    disease: Disease
    product: Product
    age_years: int
    sex: Sex
    weight_kg: float
    fevers: tuple[Fever, ...] = ()
    supports: tuple[Support, ...] = ()
    neuros: tuple[Neuro, ...] = ()
    doses: tuple[Dose, ...] = ()
    labs: tuple[LabPath, ...] = ()
    infections: tuple[Infection, ...] = ()
    licats: tuple[Licats, ...] = ()
    b_recovery_day: float | None = None
    igg_floor: float | None = None
    gaps: Gaps = field(default_factory=Gaps)
