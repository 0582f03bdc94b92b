"""Research exports of a large cohort (issue #6): time and peak memory of every tidy format.

    .venv/bin/python benchmarks/bench_export.py                 # 1,000 and 5,000 patients
    .venv/bin/python benchmarks/bench_export.py --copies 25     # 1,000 patients only
    .venv/bin/python benchmarks/bench_export.py --kinds tidy sdtm registry fhir analytics
                                                                # every kind, 5,000 patients

**The database.** Importing the generator's 5,000-patient cohort through ``cartwatch import``
took 90 minutes on PostgreSQL (``benchmarks/results/browser_setup.json``) and was on course for
about as long into SQLite here (the importer validates, grades and raises alerts row by row).
This benchmark measures the export, not the import, so it builds its cohort the fast way: the
shipped 40-patient sample is loaded once through :func:`dashboard.store.sample.load_sample`
(the real importer), then its rows (patients, assessments, grades, labs, drugs, outcome events,
alerts) are copied with SQL ``INSERT ... SELECT`` under new study ids (``<id>-K007``), new row
ids and record ids: ``--copies 25`` gives 1,000 patients, ``--copies 125`` 5,000, spread over
the same five sites. Every patient is a copy of a real, validated sample patient, so the work per
patient (rows read, graded, written) is the sample's; the two cohort sizes differ in size only.
The copies are cached under ``/tmp/cartwatch_bench_export/`` with a marker naming the migration
head (a cache at another head is rebuilt).

**The measurement.** Each step runs in a fresh child process (``--child``), so one run's memory
cannot hide in another's; the child reports wall time, its peak resident set and
the baseline (``VmRSS`` after imports and setup, before the export: interpreter, pandas,
pyarrow, openpyxl, pyreadstat) so that ``growth = peak - baseline`` is what the export itself
held at most. The peak is ``VmHWM``, reset at the baseline (``/proc/self/clear_refs``); results
measured before 2026-12-03 used ``ru_maxrss``, the peak since the process started, which hides an
export smaller than the setup's own peak. The steps:

- ``source``: :func:`dashboard.exports.source.export_chunks` alone (read, grade,
  de-identify) for each chunk size, spooling each chunk to a pickle file (time spent pickling is
  measured and subtracted);
- ``writer``: :func:`dashboard.exports.tidy.write_tidy` for each format, its chunks replayed
  from that spool (``export_chunks`` replaced in the child only) so the writer's own time and
  memory are seen apart from the source's, which all formats share;
- ``export``: one real end-to-end :func:`write_tidy` (CSV, the first chunk size, 1,000
  patients) to check that end-to-end time is close to source + writer;
- ``kind`` (``--kinds``): every export kind end to end through
  :func:`dashboard.services.exports.run_export`, as ``cartwatch export`` runs it, at the default
  chunk size (tidy as CSV; FHIR with shifted dates, which it requires; analytics with its
  figures when a browser is found).

Results: ``benchmarks/results/export_<cohort>.json``; ``docs/performance.md`` reports them. Not
a test: no timing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import platform
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CACHE = Path("/tmp/cartwatch_bench_export")
STREAMING = ("csv", "parquet", "xlsx")
WHOLE_TABLE = ("xpt", "sav", "dta")
CHUNKS = (100, 5000)
#: The kinds of dashboard.services.exports.KINDS (``--kinds``).
KINDS = ("tidy", "sdtm", "registry", "fhir", "analytics")
#: Excel through openpyxl (pure-Python XML without lxml) writes a few thousand rows a second:
#: measured up to this cohort size only.
XLSX_MAX_PATIENTS = 1000
#: Tables copied per patient, and how each of their columns changes in a copy.
COPIED = ("patients", "assessments", "grades", "lab_results", "drug_administrations",
          "outcome_events", "alerts")  # fmt: skip
ID_OFFSET = 10_000_000


def _status_mb(field: str) -> float | None:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return None


def rss_mb() -> float:
    """The process's peak resident set since the baseline (``VmHWM``, reset by
    :func:`current_mb`); ``ru_maxrss`` (peak since start) where /proc has no VmHWM."""
    peak = _status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_mb() -> float:
    """The process's resident set now (``VmRSS``): the baseline before the export. It also resets
    the peak (writing 5 to /proc/self/clear_refs), so that the peak measured afterwards is the
    export's own and not that of the imports and setup before it."""
    with contextlib.suppress(OSError):  # not Linux, or not allowed: the peak includes the setup
        Path("/proc/self/clear_refs").write_text("5")
    now = _status_mb("VmRSS")
    return now if now is not None else rss_mb()


def _copied(column: str) -> str:
    """The SQL expression of ``column`` in copy number ``:k``."""
    if column == "patient_id":
        return "patient_id || printf('-K%03d', :k)"
    if column in ("row_id", "alert_id", "assessment_row_id"):
        return f"{column} + :k * {ID_OFFSET}"
    if column == "record_id":
        return "substr(record_id, 1, 29) || printf('-%06d', :k)"
    if column == "dedup_key":
        return "dedup_key || printf('-K%03d', :k)"
    return f'"{column}"'


def build_cohort(copies: int) -> str:
    """The URL of the cached SQLite cohort of ``40 * copies`` patients (module docstring)."""
    from dashboard.store.database import head_revision, open_database
    from dashboard.store.sample import load_sample

    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"sample_x{copies}.db"
    marker = path.with_suffix(".json")
    wanted = {"copies": copies, "head": head_revision()}
    if path.exists() and marker.exists() and json.loads(marker.read_text()) == wanted:
        return f"sqlite+pysqlite:///{path}"
    template = CACHE / "sample_template.db"
    template_marker = template.with_suffix(".json")
    if not (
        template_marker.exists()
        and json.loads(template_marker.read_text()) == wanted | {"copies": 1}
    ):
        template.unlink(missing_ok=True)
        engine = open_database(f"sqlite+pysqlite:///{template}")
        load_sample(engine)
        engine.dispose()
        template_marker.write_text(json.dumps(wanted | {"copies": 1}))
    shutil.copyfile(template, path)
    started = time.perf_counter()
    with sqlite3.connect(path) as db:
        for table in COPIED:
            names = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
            select = ", ".join(_copied(name) for name in names)
            target = ", ".join(f'"{name}"' for name in names)
            for k in range(1, copies):
                db.execute(
                    f"INSERT INTO {table} ({target}) SELECT {select} FROM {table} "
                    "WHERE instr(patient_id, '-K') = 0",
                    {"k": k},
                )
        db.commit()
        db.execute("ANALYZE")
    marker.write_text(json.dumps(wanted))
    print(f"copied the sample {copies} times in {time.perf_counter() - started:.0f} s")
    return f"sqlite+pysqlite:///{path}"


# --- the child process: one measured step -----------------------------------------------------


def _actor(url: str) -> tuple[Any, Any]:
    from dashboard.services.auth import sign_in
    from dashboard.store.database import open_database

    engine = open_database(url)
    return engine, sign_in(engine, "researcher", "researcher-demo")


def _request(chunk: int, dates: str = "study_day") -> Any:
    from dashboard.exports.source import DateMode, ExportRequest

    return ExportRequest(dates=DateMode(dates), chunk_patients=chunk)


def child_source(url: str, chunk: int, spool: Path) -> dict[str, Any]:
    """Read, grade and de-identify the cohort chunk by chunk, pickling each chunk to ``spool``."""
    from dashboard.exports.source import export_chunks

    engine, actor = _actor(url)
    spool.mkdir(parents=True, exist_ok=True)
    baseline = current_mb()
    pickling = 0.0
    started = time.perf_counter()
    rows = 0
    for number, chunk_data in enumerate(export_chunks(engine, actor, _request(chunk))):
        rows += sum(len(frame) for frame in chunk_data.tables.values())
        dumped = time.perf_counter()
        with (spool / f"{number:05d}.pickle").open("wb") as handle:
            pickle.dump(chunk_data, handle, protocol=pickle.HIGHEST_PROTOCOL)
        pickling += time.perf_counter() - dumped
        del chunk_data
    wall = time.perf_counter() - started
    return {"seconds": wall - pickling, "pickling_s": pickling, "rows": rows,
            "baseline_mb": baseline, "peak_mb": rss_mb()}  # fmt: skip


def _replay(spool: Path) -> Iterator[Any]:
    for path in sorted(spool.glob("*.pickle")):
        with path.open("rb") as handle:
            yield pickle.load(handle)


def child_writer(url: str, chunk: int, fmt: str, spool: Path | None) -> dict[str, Any]:
    """``write_tidy`` into a temporary folder; its chunks replayed from ``spool`` if given."""
    import openpyxl  # noqa: F401  (imported before the baseline: libraries are not the export)
    import pyarrow.parquet  # noqa: F401
    import pyreadstat  # noqa: F401

    import dashboard.exports.tidy as tidy

    engine, actor = _actor(url)
    if spool is not None:
        setattr(tidy, "export_chunks", lambda *args, **kwargs: _replay(spool))  # noqa: B010
    with tempfile.TemporaryDirectory(prefix="bench-export-") as folder:
        baseline = current_mb()
        started = time.perf_counter()
        paths = tidy.write_tidy(engine, actor, _request(chunk), Path(folder), fmt)
        wall = time.perf_counter() - started
        size = sum(p.stat().st_size for p in paths)
    return {"seconds": wall, "baseline_mb": baseline, "peak_mb": rss_mb(),
            "bytes": size}  # fmt: skip


def child_kind(url: str, kind: str, chunk: int) -> dict[str, Any]:
    """One whole export of ``kind`` end to end, as ``cartwatch export`` runs it (tidy: CSV)."""
    from dashboard.services.exports import run_export

    engine, actor = _actor(url)
    dates = "shifted" if kind == "fhir" else "study_day"  # FHIR needs dates
    with tempfile.TemporaryDirectory(prefix="bench-export-") as folder:
        baseline = current_mb()
        started = time.perf_counter()
        paths = run_export(engine, actor, kind, _request(chunk, dates), Path(folder),
                           "csv" if kind == "tidy" else None)  # fmt: skip
        wall = time.perf_counter() - started
        size = sum(p.stat().st_size for p in paths)
    return {"seconds": wall, "baseline_mb": baseline, "peak_mb": rss_mb(), "bytes": size,
            "files": len(paths)}  # fmt: skip


def run_child(argv: list[str]) -> dict[str, Any]:
    """Run one step in a fresh interpreter; its JSON result."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", *argv],
        check=True, capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["growth_mb"] = round(result["peak_mb"] - result["baseline_mb"], 1)
    return result


def measure(copies: int, chunks: tuple[int, ...]) -> dict[str, Any]:
    url = build_cohort(copies)
    patients = 40 * copies
    out: dict[str, Any] = {"patients": patients, "url": url, "source": {}, "writer": {}}
    for chunk in chunks:
        spool = CACHE / f"spool_x{copies}_c{chunk}"
        shutil.rmtree(spool, ignore_errors=True)
        result = run_child(["source", url, str(chunk), str(spool)])
        out["source"][str(chunk)] = result
        print(f"{patients} patients, chunk {chunk}: source {result}", flush=True)
        formats = [f for f in STREAMING if f != "xlsx" or patients <= XLSX_MAX_PATIENTS]
        if chunk == chunks[0]:  # pyreadstat writes whole tables: the chunk size hardly matters
            formats += WHOLE_TABLE
        for fmt in formats:
            result = run_child(["writer", url, str(chunk), fmt, str(spool)])
            out["writer"][f"{fmt}/{chunk}"] = result
            print(f"  {fmt}: {result}", flush=True)
        shutil.rmtree(spool, ignore_errors=True)
    if patients <= XLSX_MAX_PATIENTS:
        result = run_child(["writer", url, str(chunks[0]), "csv", "-"])
        out[f"end_to_end_csv_{chunks[0]}"] = result
        print(f"end to end csv/{chunks[0]}: {result}", flush=True)
    return out


def measure_kinds(copies_list: list[int], kinds: list[str]) -> int:
    """Every export kind end to end, one child process each (``--kinds``)."""
    from dashboard.exports.source import ExportRequest

    chunk = ExportRequest().chunk_patients
    for copies in copies_list:
        url = build_cohort(copies)
        out: dict[str, Any] = {"patients": 40 * copies, "chunk_patients": chunk,
                               "load_before": os.getloadavg(), "kinds": {}}  # fmt: skip
        for kind in kinds:
            out["kinds"][kind] = run_child(["kind", url, str(chunk), kind])
            print(f"{40 * copies} patients, {kind}: {out['kinds'][kind]}", flush=True)
        out["load_after"] = os.getloadavg()
        out["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        RESULTS.mkdir(exist_ok=True)
        target = RESULTS / f"export_kinds_{out['patients']}.json"
        target.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {target}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    if args_list[:1] == ["--child"]:
        step, url, chunk, *rest = args_list[1:]
        if step == "source":
            result = child_source(url, int(chunk), Path(rest[0]))
        elif step == "kind":
            result = child_kind(url, rest[0], int(chunk))
        else:
            spool = None if rest[1] == "-" else Path(rest[1])
            result = child_writer(url, int(chunk), rest[0], spool)
        print(json.dumps(result))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, action="append",
                        help="copies of the 40-patient sample (default: 25 and 125)")  # fmt: skip
    parser.add_argument("--chunk", type=int, action="append", help="chunk sizes (100, 500, 5000)")
    parser.add_argument("--kinds", nargs="+", metavar="KIND",
                        help="instead: each export kind end to end at the default chunk size "
                        f"({', '.join(KINDS)}); results in export_kinds_<patients>.json")  # fmt: skip
    args = parser.parse_args(args_list)
    load = os.getloadavg()
    if args.kinds:
        return measure_kinds(args.copies or [125], args.kinds)
    for copies in args.copies or [25, 125]:
        result = measure(copies, tuple(args.chunk or CHUNKS))
        result |= {
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "load_before": load,
                "load_after": os.getloadavg(),
            },
            "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
        }
        RESULTS.mkdir(exist_ok=True)
        target = RESULTS / f"export_{result['patients']}.json"
        target.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
