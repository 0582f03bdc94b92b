"""Late events: infections (the main late risk while B cells are gone) and LICATS (Hagen 2025,
criteria.md 6.7), drawn per patient from the hidden parameters plus the scenario patients' own.

Sites and organisms are a closed vocabulary (no free text).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from sample_data.draws import DAY_S, HOUR_S, People

IntArray = NDArray[np.int64]
INFECTION_COLUMNS = ("patient_id", "onset_at", "site", "organism", "ctcae_grade", "serious")
LICATS_COLUMNS = ("patient_id", "onset_at", "organ", "grade", "resolved_at")
#: infection site -> (share, organisms; None = not identified)
INFECTIONS: dict[str, tuple[float, tuple[str | None, ...]]] = {
    "respiratory": (0.30, ("SARS-CoV-2", "Influenza A virus", "Rhinovirus",
                           "Streptococcus pneumoniae", None)),
    "upper_respiratory": (0.25, (None, None, "Rhinovirus")),
    "urinary": (0.20, ("Escherichia coli", "Klebsiella pneumoniae", None)),
    "skin": (0.12, ("Varicella zoster virus", "Herpes simplex virus", "Staphylococcus aureus")),
    "gastrointestinal": (0.10, ("Norovirus", "Clostridioides difficile", None)),
    "bloodstream": (0.03, ("Staphylococcus aureus", "Escherichia coli")),
}  # fmt: skip


def _at(people: People, patient: IntArray, day: IntArray, hour: IntArray) -> IntArray:
    return np.asarray(people.frame["day0_s"].to_numpy()[patient] + day * DAY_S + hour * HOUR_S)


def build_infections(people: People, rng: np.random.Generator) -> pd.DataFrame:
    f = people.frame
    counts = f["infections"].to_numpy(dtype=np.int64)
    who = np.repeat(np.arange(people.size, dtype=np.int64), counts)
    m = len(who)
    names = list(INFECTIONS)
    site = rng.choice(len(names), size=m, p=[INFECTIONS[name][0] for name in names])
    pick = rng.random(m)
    organism = np.array(
        [
            INFECTIONS[names[s]][1][int(u * len(INFECTIONS[names[s]][1]))]
            for s, u in zip(site, pick, strict=True)
        ],
        dtype=object,
    )
    grade = rng.choice([1, 2, 3, 4], size=m, p=[0.25, 0.5, 0.2, 0.05])
    grade = np.where(
        np.array(names, dtype=object)[site] == "bloodstream", np.maximum(grade, 3), grade
    )
    day = rng.integers(14, 366, m)
    hour = rng.integers(8, 21, m)
    rows = pd.DataFrame(
        {
            "who": who,
            "onset_at": _at(people, who, day, hour),
            "site": np.array(names, dtype=object)[site],
            "organism": organism,
            "ctcae_grade": grade.astype(np.int64),
            "serious": grade >= 3,
        }
    )
    extra = [
        (i, int(_at(people, np.array([i]), np.array([x.day]), np.array([11]))[0]), x.site,
         x.organism, x.grade, x.serious)
        for i, spec in enumerate(people.specs)
        for x in spec.infections
    ]  # fmt: skip
    return _finish(people, rows, extra, ("onset_at",))


def build_licats(people: People) -> pd.DataFrame:
    f = people.frame
    who = np.flatnonzero(f["licats"].to_numpy(dtype=bool)).astype(np.int64)
    onset_day = f["licats_onset_day"].to_numpy(dtype=np.int64)[who]
    onset = _at(people, who, onset_day, np.full(len(who), 12))
    resolved = onset + f["licats_days"].to_numpy(dtype=np.int64)[who] * DAY_S
    resolved = np.where(f["licats_resolved"].to_numpy(dtype=bool)[who], resolved, -1)
    rows = pd.DataFrame(
        {
            "who": who,
            "onset_at": onset,
            "organ": f["licats_organ"].to_numpy(dtype=object)[who],
            "grade": f["licats_grade"].to_numpy(dtype=np.int64)[who],
            "resolved_at": resolved,
        }
    )
    extra = []
    for i, spec in enumerate(people.specs):
        for x in spec.licats:
            start = int(_at(people, np.array([i]), np.array([x.onset_day]), np.array([12]))[0])
            end = -1 if x.resolved_day is None else start + (x.resolved_day - x.onset_day) * DAY_S
            extra.append((i, start, x.organ, x.grade, end))
    return _finish(people, rows, extra, ("onset_at", "resolved_at"))


def _finish(
    people: People, rows: pd.DataFrame, extra: Sequence[tuple[object, ...]], times: tuple[str, ...]
) -> pd.DataFrame:
    """Routine and scenario rows, sorted by patient and onset; times in seconds become instants
    (-1 becomes blank)."""
    if extra:
        rows = pd.concat([rows, pd.DataFrame(extra, columns=rows.columns)], ignore_index=True)
    rows = rows.sort_values(["who", "onset_at"], kind="stable").reset_index(drop=True)
    for column in times:
        seconds = rows[column].to_numpy(dtype=np.int64)
        instants = seconds.astype("datetime64[s]")
        instants[seconds < 0] = np.datetime64("NaT")
        rows[column] = instants
    rows.insert(0, "patient_id", people.frame["patient_id"].to_numpy()[rows["who"].to_numpy()])
    return rows.drop(columns="who")
