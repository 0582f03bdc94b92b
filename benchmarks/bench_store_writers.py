"""Benchmark: concurrent writers saving assessments (each save re-grades and raises alerts).

    .venv/bin/python benchmarks/bench_store_writers.py --backend postgresql --writers 20 --saves 60
    .venv/bin/python benchmarks/bench_store_writers.py --backend postgresql --writers 20 \
        --saves 60 --rate 200 [--arrivals poisson]
    .venv/bin/python benchmarks/bench_store_writers.py --backend sqlite --writers 5 --saves 60

Each writer is a separate process (as separate app processes would be) with its own patient, and
saves ``--saves`` assessments, one unit of work each: validation, versioned insert, audit entry,
re-grading of the patient's course and alert upserts, commit. The clock starts once every writer
process has started, imported and connected, so start-up is not counted, and (closed loop) it
stops at the last save's commit, so the writers' exit is not counted either (interpreter teardown
of 20 processes took 2-3 s of both cores and was counted until 2026-12-03). ``--warmup N``: each
writer first makes N untimed saves for a second patient of its own, so that the timed saves run
with warm caches as in a long-running app process (compiled statements, prepared statements,
the grader's memo); the default 0 times the first saves too, as before.

Two load models
---------------

**Closed loop (the default).** Each writer saves back to back: the next save starts when the
previous one has committed. The writers are the only source of load, so the throughput is simply
how fast the system goes, and by construction (Little's law) the mean latency of a save is
``writers / throughput``: with 20 writers, 200 saves/s means a mean latency of 100 ms whatever the
code does, and a p95 under 50 ms needs more than 400 saves/s. This measures capacity (saturation
throughput), not the latency a nurse sees at a given load.

**Open loop (``--rate R``).** Real nurses do not save back to back; saves arrive at a rate that does
not depend on how fast the last one went. ``R`` saves per second in total are offered, spread over
the writers: writer ``w`` has its own schedule of ``--saves`` start times, ``writers / R`` seconds
apart on average, either fixed (``--arrivals fixed``, the default: writer ``w`` is offset by
``w / R``, so the offered saves are evenly spaced overall) or Poisson (``--arrivals poisson``:
exponential gaps with the same mean, seeded by ``--seed``). A writer sleeps until a save's
scheduled start; if it is still busy with earlier saves at that time, the save starts as soon as
the writer is free. **Latency is measured from the scheduled start**, not from the moment the
writer got round to it, so a backlog counts as latency (no coordinated omission: a slow save is
not allowed to hide the saves that queued behind it). The report gives the offered rate, the
achieved rate (saves completed over the time from the first scheduled start to the last commit;
below the offered rate when the system cannot keep up, and then the latencies grow with the run's
length), the latency percentiles from the scheduled start, the service time (from the actual start)
and how many saves started late by more than 10 ms.

Both modes report the writers' own CPU time per save (process time of the Python clients, robust
to other load) and, on PostgreSQL when the server runs on this machine, the server's CPU per save
(on-CPU time of every ``postgres`` process, ``/proc/<pid>/schedstat``), and the load average before
and after the run; at the end ``cartwatch audit verify``'s check of the audit chain. PostgreSQL:
127.0.0.1:5432 database test, in a fresh schema dropped afterwards.
Results go to benchmarks/results/store_writers_<backend>[_rate<R>].json (``--out`` names the file).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session
from store_bench import (
    BenchStore,
    add_nurse_and_patients,
    backend_pid,
    create_store,
    machine_busy_seconds,
    on_cpu_ns,
    postgres_cpu_ns,
    save,
)

from dashboard.store import audit
from dashboard.store.access import Actor

RESULTS = Path(__file__).resolve().parent / "results"
#: A save that starts this many seconds after its scheduled start is counted as a late start.
LATE_START = 0.010


def schedule(writers: int, saves: int, rate: float, arrivals: str, seed: int) -> list[list[float]]:
    """Each writer's scheduled start times, in seconds from the start of the run."""
    gap = writers / rate  # mean seconds between two saves of one writer
    if arrivals == "fixed":
        return [[w / rate + i * gap for i in range(saves)] for w in range(writers)]
    rng = random.Random(seed)
    out = []
    for _ in range(writers):
        moment, starts = 0.0, []
        for _ in range(saves):
            moment += rng.expovariate(1 / gap)
            starts.append(moment)
        out.append(starts)
    return out


def _writer(store: BenchStore, actor_json: str, worker: int, saves: int,
            starts: list[float] | None, warmup: int, queue: Any, go: Any,
            t0: Any) -> None:  # fmt: skip
    engine = store.engine()
    actor = Actor.model_validate_json(actor_json)
    for i in range(warmup):  # untimed saves for another patient: imports, caches, statements
        _save(engine, actor, f"X{worker:02d}", i)
    backend = _backend_cpu(engine)  # connects before the clock starts
    queue.put("ready")
    go.wait()
    origin = t0.value  # time.monotonic() of the run's start (CLOCK_MONOTONIC: system-wide)
    latencies, services, failures, late = [], [], [], 0
    began = time.monotonic() - origin  # closed loop: a little before origin (go, not t0)
    cpu = time.process_time()
    for i in range(saves):
        if starts is None:  # closed loop: back to back
            scheduled = start = time.monotonic()
        else:  # open loop: wait for the scheduled start, or start late if still busy
            scheduled = origin + starts[i]
            wait = scheduled - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            start = time.monotonic()
            late += start - scheduled > LATE_START
        try:
            _save(engine, actor, f"W{worker:02d}", i)
        except Exception as error:  # counted and reported: "database is locked" would land here
            failures.append(f"writer {worker}: {type(error).__name__}: {str(error)[:200]}")
            print(failures[-1])
        end = time.monotonic()
        latencies.append(end - scheduled)
        services.append(end - start)
    cpu = time.process_time() - cpu  # this writer's own CPU (robust to a loaded machine)
    finished = time.monotonic() - origin
    server = None
    if backend is not None:  # the pool kept its one connection, so the same backend
        after = _backend_cpu(engine)
        server = after[1] - backend[1] if after is not None and after[0] == backend[0] else None
    engine.dispose()
    queue.put((latencies, services, failures, cpu, late, finished, server, began))


def _save(engine: Any, actor: Actor, patient_id: str, i: int) -> None:
    save(engine, actor, patient_id, i, temperature_c=37.5 + (i % 20) / 10)


def _backend_cpu(engine: Any) -> tuple[int, int] | None:
    """This writer's PostgreSQL backend (pid, on-CPU ns), or None (SQLite, remote server)."""
    if engine.dialect.name != "postgresql":
        return None
    pid = backend_pid(engine)
    try:
        return pid, on_cpu_ns(pid)
    except (OSError, ValueError):
        return None


def server_cpu_ms(
    results: list[Any], before: dict[int, int], after: dict[int, int], saves: int
) -> float | None:
    """PostgreSQL's CPU per save: the writers' own backends, and the processes that ran
    throughout (WAL writer, checkpointer, background writer ...)."""
    backends = [r[6] for r in results]
    if not before or any(b is None for b in backends):
        return None
    background = sum(after[pid] - ns for pid, ns in before.items() if pid in after)
    return round(float(sum(backends) + background) / saves / 1e6, 2)


def _percentiles(values: Any) -> dict[str, float]:
    return {p: round(float(np.percentile(values, q)), 1)
            for p, q in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--writers", type=int, default=5)
    parser.add_argument("--saves", type=int, default=100, help="saves per writer")
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="open loop: total offered saves per second (default: closed loop)",
    )
    parser.add_argument("--arrivals", choices=["fixed", "poisson"], default="fixed")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--warmup",
        type=int,
        default=0,
        help="untimed saves per writer (for another patient) before the clock starts",
    )
    parser.add_argument("--out", default=None, help="results file name (in benchmarks/results)")
    args = parser.parse_args()

    load_before = [round(x, 2) for x in os.getloadavg()]
    store = create_store(args.backend, "bench")
    engine = store.engine()
    nurse = add_nurse_and_patients(
        engine, "Benchmark site", "bench-nurse",
        [f"{p}{w:02d}" for p in "WX"[: 1 + (args.warmup > 0)] for w in range(args.writers)],
    )  # fmt: skip
    engine.dispose()

    plans: list[list[float] | None] = (
        list(schedule(args.writers, args.saves, args.rate, args.arrivals, args.seed))
        if args.rate
        else [None] * args.writers
    )
    context = multiprocessing.get_context("spawn")
    queue, go, t0 = context.Queue(), context.Event(), context.Value("d", 0.0)
    processes = [
        context.Process(target=_writer, args=(store, nurse.model_dump_json(), w, args.saves,
                                              plans[w], args.warmup, queue, go, t0))
        for w in range(args.writers)
    ]  # fmt: skip
    for process in processes:
        process.start()
    for _ in processes:  # every writer has imported and connected: start the clock
        assert queue.get() == "ready"
    background = postgres_cpu_ns() if args.backend == "postgresql" else {}
    t0.value = time.monotonic() + 0.05  # every writer's schedule starts here
    start = time.perf_counter()
    busy = machine_busy_seconds()
    go.set()
    results = [queue.get() for _ in processes]
    busy = machine_busy_seconds() - busy  # every process's CPU while the writers saved
    for process in processes:
        process.join()
    wall = time.perf_counter() - start
    background_after = postgres_cpu_ns() if background else {}
    span = max(r[5] for r in results) - min(r[7] for r in results)
    latencies = np.array([x for r in results for x in r[0]]) * 1000
    services = np.array([x for r in results for x in r[1]]) * 1000
    errors = [e for r in results for e in r[2]]
    saves = max(latencies.size, 1)
    client_cpu_ms = sum(r[3] for r in results) / saves * 1000
    result: dict[str, Any] = {
        "measured_at": datetime.now().isoformat(timespec="seconds"),
        "backend": args.backend,
        "model": "open loop" if args.rate else "closed loop",
        "writers": args.writers,
        "warmup_saves_per_writer": args.warmup,
        "saves": int(latencies.size),
        "failures": len(errors),
        "errors": errors,
        # from the first save's start to the last save's commit (the writers' exit is not in it)
        "wall_seconds": round(span, 2),
        "saves_per_second": round(latencies.size / span, 1),
        "wall_seconds_with_exit": round(wall, 2),
        "client_cpu_ms_per_save": round(client_cpu_ms, 2),
        "server_cpu_ms_per_save": server_cpu_ms(results, background, background_after, saves),
        # all CPUs' busy time (/proc/stat) from the start until every writer had reported
        "machine_cpu_ms_per_save": round(busy / saves * 1000, 2),
        "load_average_before": load_before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "latency_ms": _percentiles(latencies),
    }
    if args.rate:
        last_commit = max(r[5] for r in results)  # seconds after the first scheduled start
        result.update({
            "arrivals": args.arrivals,
            "offered_saves_per_second": args.rate,
            # the schedule as drawn (Poisson gaps make it differ a little from --rate)
            "scheduled_saves_per_second": round(
                latencies.size / max(max(p) for p in plans if p is not None), 1
            ),
            "achieved_saves_per_second": round(latencies.size / last_commit, 1),
            "latency_from": "scheduled start",
            "service_ms": _percentiles(services),
            "late_starts": sum(r[4] for r in results),
        })  # fmt: skip
        del result["saves_per_second"]  # the wall time includes the schedule's idle gaps
    engine = store.engine()
    with Session(engine) as session:  # every save's entries are in one unbroken chain
        result["audit_chain"] = audit.verify(session).message
    engine.dispose()
    store.drop()
    RESULTS.mkdir(exist_ok=True)
    name = args.out or (
        f"store_writers_{args.backend}"
        + (f"_rate{args.rate:g}{'_poisson' if args.arrivals == 'poisson' else ''}"
           if args.rate else "")
        + ".json"
    )  # fmt: skip
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
