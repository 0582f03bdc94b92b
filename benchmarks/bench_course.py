"""Benchmark: grade a whole synthetic cohort's course and summarise it into episodes.

    .venv/bin/python benchmarks/bench_course.py [--patients 5000] [--seed 2026]

Generates the cohort with ``sample_data.generator`` (timed separately), then times
``grading.course.grade_course`` (fever masking from the drug log, CRS and ICANS grading, episodes,
per-day maxima, exposure per episode, course flags) and reports peak memory as the process's
maximum resident set size before and after. Results go to standard output and
benchmarks/results/course.json; docs/performance.md reports them.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from grading.bcells import b_cell_summary
from grading.course import grade_course
from grading.cytopenia import ctcae_frame
from grading.immunoglobulin import ivig_summary
from sample_data.generator import generate_cohort

RESULTS = Path(__file__).resolve().parent / "results" / "course.json"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    start = time.perf_counter()
    cohort = generate_cohort(args.patients, args.seed)
    generate_s = time.perf_counter() - start
    before_mb = rss_mb()
    start = time.perf_counter()
    course = grade_course(cohort.assessments, cohort.drugs, cohort.patients)
    course_s = time.perf_counter() - start
    after_mb = rss_mb()
    episodes = course.episodes
    at = pd.Timestamp(cohort.assessments["observed_at"].max()).to_pydatetime()
    labs_s = {}
    start = time.perf_counter()
    b_cell_summary(cohort.patients, cohort.labs)
    labs_s["b_cell_summary"] = round(time.perf_counter() - start, 2)
    start = time.perf_counter()
    ivig_summary(cohort.patients, cohort.labs, cohort.drugs, cohort.infections, at)
    labs_s["ivig_summary"] = round(time.perf_counter() - start, 2)
    start = time.perf_counter()
    ctcae_frame(cohort.labs, {})
    labs_s["ctcae_frame"] = round(time.perf_counter() - start, 2)
    result = {
        "measured_at": datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}",
        "patients": args.patients,
        "rows": {
            "assessments": len(cohort.assessments),
            "labs": len(cohort.labs),
            "drugs": len(cohort.drugs),
        },
        "generate_seconds": round(generate_s, 2),
        "grade_course_seconds": round(course_s, 2),
        "assessments_per_second": round(len(cohort.assessments) / course_s),
        "lab_summaries_seconds": labs_s,
        "episodes": {
            syndrome: int((episodes["syndrome"] == syndrome).sum()) for syndrome in ("CRS", "ICANS")
        },
        "max_rss_mb_before_grading": round(before_mb, 1),
        "max_rss_mb_after_grading": round(after_mb, 1),
        "max_rss_mb_at_end": round(rss_mb(), 1),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
