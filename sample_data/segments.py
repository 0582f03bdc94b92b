"""The acute course as three tables of time windows (hours since infusion) per patient: fever,
support (hypotension treatment and oxygen), neurological findings. Routine patients get at most one
window of each, drawn as arrays; scenario patients get their hand-written windows.

:func:`locate` finds, for every assessment, the window of its patient that contains it (windows of
one patient never overlap), with one ``searchsorted``: no loop over rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from sample_data.draws import People

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
SPAN_H = 1e5  # wider than any course in hours, so (patient, hour) folds into one sortable number


@dataclass(frozen=True)
class Segments:
    fevers: pd.DataFrame  # patient, start_h, end_h, max_c
    supports: pd.DataFrame  # patient, start_h, end_h, hypotension, device, flow
    neuros: pd.DataFrame  # patient, start_h, end_h, ice, capd, consciousness, seizure, motor


def locate(segments: pd.DataFrame, row_patient: IntArray, row_hour: FloatArray) -> IntArray:
    """Per row, the position in ``segments`` (sorted by patient and start) containing it, or -1."""
    if segments.empty:
        return np.full(len(row_patient), -1, dtype=np.int64)
    patient = segments["patient"].to_numpy(dtype=np.int64)
    start = segments["start_h"].to_numpy(dtype=float)
    end = segments["end_h"].to_numpy(dtype=float)
    keys = patient * SPAN_H + start
    index = np.searchsorted(keys, row_patient * SPAN_H + row_hour, side="right") - 1
    safe = np.maximum(index, 0)
    inside = (index >= 0) & (patient[safe] == row_patient) & (row_hour < end[safe])
    return np.where(inside, index, -1).astype(np.int64)


def build_segments(people: People) -> Segments:
    f = people.frame
    patient = np.arange(people.size, dtype=np.int64)
    crs, g2, icans = (f[c].to_numpy(dtype=bool) for c in ("crs", "crs_g2", "crs_icans"))
    onset = f["crs_onset_h"].to_numpy()
    support_start = onset + f["support_offset_h"].to_numpy()
    fever_end = np.where(
        g2, support_start + np.minimum(f["support_offset_h"].to_numpy(), 8), onset + f["fever_h"]
    )
    fever_end = np.maximum(fever_end, onset + 4)
    fevers = pd.DataFrame(
        {
            "patient": patient[crs],
            "start_h": onset[crs],
            "end_h": fever_end[crs],
            "max_c": f["fever_max_c"].to_numpy()[crs] + 0.4 * g2[crs],
        }
    )
    o2 = f["support_o2"].to_numpy(dtype=bool)
    supports = pd.DataFrame(
        {
            "patient": patient[g2],
            "start_h": support_start[g2],
            "end_h": (support_start + f["support_h"].to_numpy())[g2],
            "hypotension": np.where(o2, "none", "fluid_responsive")[g2].astype(object),
            "device": np.where(o2, "low_flow_nasal_cannula", "room_air")[g2].astype(object),
            "flow": np.where(o2, f["support_flow"].to_numpy(), np.nan)[g2],
        }
    )
    icans_start = fever_end + f["icans_delay_h"].to_numpy()
    neuros = pd.DataFrame(
        {
            "patient": patient[icans],
            "start_h": icans_start[icans],
            "end_h": (icans_start + f["icans_h"].to_numpy())[icans],
            "ice": f["icans_ice"].to_numpy()[icans],
            "capd": f["icans_capd"].to_numpy()[icans],
            "consciousness": "alert",
            "seizure": "none",
            "motor": "none",
        }
    )
    extra_f, extra_s, extra_n = [], [], []
    for i, spec in enumerate(people.specs):
        extra_f += [(i, x.start_h, x.end_h, x.max_c) for x in spec.fevers]
        extra_s += [
            (i, x.start_h, x.end_h, x.hypotension.value, x.device.value,
             np.nan if x.flow_l_min is None else x.flow_l_min)
            for x in spec.supports
        ]  # fmt: skip
        extra_n += [
            (i, x.start_h, x.end_h, x.ice, x.capd, x.consciousness.value, x.seizure.value,
             x.motor.value)
            for x in spec.neuros
        ]  # fmt: skip
    return Segments(_joined(fevers, extra_f), _joined(supports, extra_s), _joined(neuros, extra_n))


def _joined(routine: pd.DataFrame, extra: Sequence[tuple[object, ...]]) -> pd.DataFrame:
    """The routine windows and the scenario windows, sorted by patient and start."""
    if extra:
        added = pd.DataFrame(extra, columns=routine.columns).astype(routine.dtypes.to_dict())
        routine = pd.concat([routine, added], ignore_index=True) if len(routine) else added
    return routine.sort_values(["patient", "start_h"], kind="stable").reset_index(drop=True)
