"""Coded values of the interchange contract.

Member values are the exact strings of the CSV contract (README, "Data dictionary"); member names and
docstrings use the phrases of the ASTCT 2019 tables (Lee et al., Biol Blood Marrow Transplant
2019;25:625-638) so that a reader can match them against the paper.
"""

from __future__ import annotations

from enum import StrEnum


class Hypotension(StrEnum):
    """How hypotension was treated: the graded variable of ASTCT CRS (criteria.md R-CRS-3)."""

    NONE = "none"
    FLUID_RESPONSIVE = "fluid_responsive"  # "not requiring vasopressors"
    ONE_VASOPRESSOR = "one_vasopressor"
    ONE_VASOPRESSOR_PLUS_VASOPRESSIN = "one_vasopressor_plus_vasopressin"  # still grade 3
    MULTIPLE_VASOPRESSORS = "multiple_vasopressors"  # "excluding vasopressin"


class OxygenDevice(StrEnum):
    """Oxygen support in use (criteria.md R-CRS-4). SpO2 is supporting data, never graded."""

    ROOM_AIR = "room_air"
    LOW_FLOW_NASAL_CANNULA = "low_flow_nasal_cannula"
    BLOW_BY = "blow_by"
    HIGH_FLOW_NASAL_CANNULA = "high_flow_nasal_cannula"
    FACE_MASK = "face_mask"
    NON_REBREATHER = "non_rebreather"
    VENTURI = "venturi"
    CPAP = "cpap"
    BIPAP = "bipap"
    MECHANICAL_VENTILATION = "mechanical_ventilation"

    @property
    def is_nasal_cannula(self) -> bool:
        return self in (OxygenDevice.LOW_FLOW_NASAL_CANNULA, OxygenDevice.HIGH_FLOW_NASAL_CANNULA)


class Consciousness(StrEnum):
    """ASTCT "depressed level of consciousness" domain (criteria.md 2.2, R-ICANS-7)."""

    ALERT = "alert"  # no depressed consciousness, contributes 0
    AWAKENS_SPONTANEOUSLY = "awakens_spontaneously"
    AWAKENS_TO_VOICE = "awakens_to_voice"
    AWAKENS_TO_TACTILE = "awakens_to_tactile"  # "awakens only to tactile stimulus"
    UNAROUSABLE = (
        "unarousable"  # "or requires vigorous or repetitive tactile stimuli; stupor or coma"
    )


class Seizure(StrEnum):
    """ASTCT seizure domain (criteria.md 2.2)."""

    NONE = "none"
    SELF_LIMITING = "self_limiting"  # "any clinical seizure ... that resolves rapidly"
    RESOLVED_WITH_INTERVENTION = (
        "resolved_with_intervention"  # "non-convulsive seizures on EEG ..."
    )
    PROLONGED_OR_REPETITIVE = "prolonged_or_repetitive"  # ">5 min; or repetitive ..."


class MotorWeakness(StrEnum):
    """ASTCT motor findings domain (criteria.md 2.2). Tremor and myoclonus are not motor findings."""

    NONE = "none"
    DEEP_FOCAL = "deep_focal"  # "deep focal motor weakness such as hemiparesis or paraparesis"


class CerebralEdema(StrEnum):
    """ASTCT elevated ICP / cerebral oedema domain (criteria.md 2.2)."""

    NONE = "none"
    FOCAL = "focal"  # "focal/local oedema on neuroimaging"
    DIFFUSE = "diffuse"  # incl. posturing, CN VI palsy, papilloedema, Cushing's triad


class DeathAttribution(StrEnum):
    """Cause a death was attributed to; grade 5 only when attributed to that toxicity."""

    CRS = "crs"
    ICANS = "icans"
    OTHER = "other"


class Status(StrEnum):
    """What a grade result means. A blank input is never read as normal."""

    GRADED = "graded"  # a toxicity grade >= 1
    # Grade 0 by the criteria: every domain assessed and none abnormal, or (CRS) no fever and no
    # masking therapy, which is not CRS whatever else is blank.
    NO_TOXICITY = "no_toxicity"
    NOT_GRADABLE = "not_gradable"  # a required field was not assessed, or the rules leave it open


class FlagLevel(StrEnum):
    """Strength of an escalation flag."""

    INDICATED = "indicated"
    CONSIDER = "consider"
    LIMIT_REACHED = "limit_reached"  # indicated by grade, but the dose limit stops another dose
