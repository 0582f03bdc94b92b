"""Benchmark: vectorised ``grade_frame`` against the scalar loop, with peak memory.

    .venv/bin/python benchmarks/bench_grade_frame.py [--rows 1000000] [--scalar-rows 20000]

Synthetic assessments are drawn at random over every coded value (about 10% of each field blank).
The scalar loop (``Assessment`` validation + ``grade_assessment`` per row) is timed on a sample and
its rate extrapolated, since one million scalar gradings take minutes. Results go to standard output
and benchmarks/results/grade_frame.json; docs/performance.md reports them.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
import tracemalloc
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from grading import Assessment, grade_assessment, grade_frame
from grading.frame import CODED

RESULTS = Path(__file__).resolve().parent / "results" / "grade_frame.json"


def synthetic(rows: int, seed: int = 7) -> pd.DataFrame:
    """Random, valid assessments over the whole contract, about 10% of each field blank."""
    rng = np.random.default_rng(seed)

    def blank(values: np.ndarray) -> np.ndarray:
        """Numbers get NaN, codes and booleans None, as a CSV reader gives them."""
        out = values.astype(float if values.dtype.kind in "if" else object)
        out[rng.random(rows) < 0.1] = np.nan if out.dtype == float else None
        return out

    frame = pd.DataFrame(
        {
            "patient_id": np.char.add("P", (np.arange(rows) % 5000).astype(str)),
            "observed_at": pd.Timestamp("2026-01-01")
            + pd.to_timedelta(np.arange(rows), unit="min"),
            "age_years": blank(rng.integers(2, 80, rows).astype(float)),
            "temperature_c": blank(np.round(rng.normal(37.8, 0.9, rows).clip(34, 42), 1)),
            "antipyretic_or_anticytokine_given": blank(rng.random(rows) < 0.3),
            "oxygen_l_min": np.nan,
            "ice_score": blank(rng.integers(0, 11, rows)),
            "capd_score": blank(rng.integers(0, 33, rows)),
        }
    )
    for column, enum in CODED.items():
        if column == "death_attributed_to":
            continue
        values = np.array([member.value for member in enum], dtype=object)
        frame[column] = blank(values[rng.integers(0, len(values), rows)])
    nasal = frame["oxygen_device"].isin(["low_flow_nasal_cannula", "high_flow_nasal_cannula"])
    flows = np.round(rng.uniform(0.5, 15, rows), 1)
    frame.loc[nasal, "oxygen_l_min"] = flows[nasal.to_numpy()]
    unarousable = frame["consciousness"] == "unarousable"
    frame.loc[unarousable & frame["ice_score"].notna(), "ice_score"] = 0
    return frame


def time_vectorised(frame: pd.DataFrame, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        grade_frame(frame)
        best = min(best, time.perf_counter() - start)
    return best


def time_scalar(frame: pd.DataFrame) -> float:
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    start = time.perf_counter()
    for record in records:
        record["observed_at"] = record["observed_at"].to_pydatetime()
        grade_assessment(Assessment.model_validate(record))
    return time.perf_counter() - start


def peak_memory(frame: pd.DataFrame) -> int:
    tracemalloc.start()
    grade_frame(frame)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--scalar-rows", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    frame = synthetic(args.rows)
    input_mb = frame.memory_usage(deep=True).sum() / 1e6
    vector_s = time_vectorised(frame, args.repeats)
    scalar_s = time_scalar(frame.head(args.scalar_rows))
    peak_mb = peak_memory(frame) / 1e6
    vector_rate = args.rows / vector_s
    scalar_rate = args.scalar_rows / scalar_s
    result = {
        "measured_at": datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}",
        "rows": args.rows,
        "vectorised_seconds_best_of": [args.repeats, round(vector_s, 3)],
        "vectorised_rows_per_s": round(vector_rate),
        "scalar_rows_timed": args.scalar_rows,
        "scalar_rows_per_s": round(scalar_rate),
        "scalar_seconds_extrapolated": round(args.rows / scalar_rate, 1),
        "speedup": round(vector_rate / scalar_rate, 1),
        "input_frame_mb": round(input_mb, 1),
        "grade_frame_peak_traced_mb": round(peak_mb, 1),
        "process_max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
