"""Benchmark: concurrent writers saving assessments (each save re-grades and raises alerts).

    .venv/bin/python benchmarks/bench_store_writers.py --backend postgresql --writers 20 --saves 60
    .venv/bin/python benchmarks/bench_store_writers.py --backend postgresql --writers 20 \
        --saves 60 --rate 200 [--arrivals poisson]
    .venv/bin/python benchmarks/bench_store_writers.py --backend sqlite --writers 5 --saves 60

Each writer is a separate process (as separate app processes would be) with its own patient;
``--threads T`` instead runs ``T`` writers as threads of one process sharing the process's engine
and connection pool, as one Streamlit app process serves its users' sessions on threads (20
writers with ``--threads 10``: two app processes of ten sessions each). Each writer
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

Both modes report the writers' own CPU time per save (each writer thread's CPU time, robust to
other load) and, on PostgreSQL when the server runs on this machine, the server's CPU per save
(on-CPU time of every ``postgres`` process over the run, ``/proc/<pid>/schedstat``, read while the
writers' connections are open; ``postgres_processes_started``/``_ended`` count the server processes
that started and ended during the run, pool connections above all, whose CPU is missed if they
ended), the whole machine's
busy CPU per save (``/proc/stat``), and the load average before and after the run; at the end
``cartwatch audit verify``'s check of the audit chain. PostgreSQL: 127.0.0.1:5432 database test, in
a fresh schema dropped afterwards. Each writer process settles its heap before it opens its engine,
as the app does (:mod:`dashboard.heap`).
Results go to benchmarks/results/store_writers_<backend>[_rate<R>].json (``--out`` names the file).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import threading
import time
from datetime import datetime
from pathlib import Path
from queue import Empty
from typing import Any

import numpy as np
from sqlalchemy.orm import Session
from store_bench import (
    BenchStore,
    add_nurse_and_patients,
    create_store,
    machine_busy_seconds,
    postgres_cpu_ns,
    save,
)

from dashboard.heap import settle
from dashboard.store import audit
from dashboard.store.access import Actor

RESULTS = Path(__file__).resolve().parent / "results"
#: The first item of a writer's message when it failed outside a save.
DIED = "died"
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


def _process(store: BenchStore, actor_json: str, workers: list[int], saves: int,
             plans: list[list[float] | None], warmup: int, queue: Any, go: Any, t0: Any,
             finish: Any) -> None:  # fmt: skip
    """One writer process: its writers run as threads sharing one engine (the app's own engine
    and connection pool), as one app process serves its users' sessions on threads; a single
    writer runs on the process's main thread."""
    settle()  # as the app does before it opens its engine (dashboard.app_pages.common.engine)
    engine = store.engine()
    actor = Actor.model_validate_json(actor_json)
    args = [(engine, actor, w, saves, plans[w], warmup, queue, go, t0) for w in workers]
    if len(workers) == 1:
        _writer(*args[0])
    else:
        threads = [threading.Thread(target=_writer, args=a) for a in args]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finish.wait()  # the pool's connections stay open until the server's CPU has been read
    engine.dispose()


def _writer(engine: Any, actor: Actor, worker: int, saves: int, starts: list[float] | None,
            warmup: int, queue: Any, go: Any, t0: Any) -> None:  # fmt: skip
    """One writer; if it fails outside a save (a save's own error is counted as a failure), it
    says so on the queue, so that the run stops with the reason instead of waiting for it."""
    try:
        _write(engine, actor, worker, saves, starts, warmup, queue, go, t0)
    except BaseException as error:
        queue.put((DIED, worker, f"{type(error).__name__}: {error}"))
        raise


def _write(engine: Any, actor: Actor, worker: int, saves: int, starts: list[float] | None,
           warmup: int, queue: Any, go: Any, t0: Any) -> None:  # fmt: skip
    for i in range(warmup):  # untimed saves for another patient: imports, caches, statements
        _save(engine, actor, f"X{worker:02d}", i)
    queue.put("ready")
    go.wait()
    origin = t0.value  # time.monotonic() of the run's start (CLOCK_MONOTONIC: system-wide)
    latencies, services, failures, late = [], [], [], 0
    began = time.monotonic() - origin  # closed loop: a little before origin (go, not t0)
    cpu = time.thread_time()
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
    cpu = time.thread_time() - cpu  # this writer's own CPU (robust to a loaded machine)
    finished = time.monotonic() - origin
    queue.put((latencies, services, failures, cpu, late, finished, began))


def receive(queue: Any, processes: list[Any], expected: int) -> list[Any]:
    """``expected`` messages from the writers; stops the run (SystemExit with the reason) when a
    writer failed or a writer process died, instead of waiting for a message that never comes."""
    messages: list[Any] = []
    while len(messages) < expected:
        try:
            message = queue.get(timeout=1)
        except Empty:
            dead = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
            if dead:
                raise SystemExit(f"a writer process died with exit code(s) {dead}") from None
            continue
        if isinstance(message, tuple) and message[0] == DIED:
            raise SystemExit(f"writer {message[1]} failed: {message[2]}")
        messages.append(message)
    return messages


def _save(engine: Any, actor: Actor, patient_id: str, i: int) -> None:
    save(engine, actor, patient_id, i, temperature_c=37.5 + (i % 20) / 10)


def server_cpu_ms(before: dict[int, int], after: dict[int, int], saves: int) -> float | None:
    """PostgreSQL's CPU per save: every ``postgres`` process's on-CPU time over the run (the
    writers' backends, WAL writer, checkpointer ...); a backend that started during the run (a
    pooled connection opened then) counts from zero. Read while the writers' connections are still
    open, so only a connection closed during the run (a pool overflow) is missed."""
    if not before:
        return None
    return round(sum(ns - before.get(pid, 0) for pid, ns in after.items()) / saves / 1e6, 2)


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
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="writers per process, as threads sharing the process's engine (default 1: every "
        "writer a process of its own); --writers must be a multiple",
    )
    parser.add_argument("--out", default=None, help="results file name (in benchmarks/results)")
    args = parser.parse_args()
    if args.threads < 1 or args.writers % args.threads:
        parser.error("--writers must be a positive multiple of --threads")

    load_before = [round(x, 2) for x in os.getloadavg()]
    store = create_store(args.backend, "bench")
    try:
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
        finish = context.Event()
        groups = [list(range(w, w + args.threads)) for w in range(0, args.writers, args.threads)]
        processes = [
            context.Process(target=_process, args=(store, nurse.model_dump_json(), group, args.saves,
                                                   plans, args.warmup, queue, go, t0, finish),
                            daemon=True)  # a run stopped by an error does not wait for its writers
            for group in groups
        ]  # fmt: skip
        for process in processes:
            process.start()
        receive(
            queue, processes, args.writers
        )  # every writer imported and connected: start the clock
        background = postgres_cpu_ns() if args.backend == "postgresql" else {}
        t0.value = time.monotonic() + 0.05  # every writer's schedule starts here
        start = time.perf_counter()
        busy = machine_busy_seconds()
        go.set()
        try:
            results = receive(queue, processes, args.writers)
            busy = machine_busy_seconds() - busy  # every process's CPU while the writers saved
            background_after = postgres_cpu_ns() if background else {}
        finally:  # the writers wait for this before they close their connections and exit
            finish.set()
        for process in processes:
            process.join()
        wall = time.perf_counter() - start
        span = max(r[5] for r in results) - min(r[6] for r in results)
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
            "writer_processes": len(processes),
            "threads_per_process": args.threads,
            "warmup_saves_per_writer": args.warmup,
            "saves": int(latencies.size),
            "failures": len(errors),
            "errors": errors,
            # from the first save's start to the last save's commit (the writers' exit is not in it)
            "wall_seconds": round(span, 2),
            "saves_per_second": round(latencies.size / span, 1),
            "wall_seconds_with_exit": round(wall, 2),
            "client_cpu_ms_per_save": round(client_cpu_ms, 2),
            "server_cpu_ms_per_save": server_cpu_ms(background, background_after, saves),
            # postgres processes (pool connections, autovacuum workers, any other client) that
            # started or ended during the run; an ended one's CPU is missed
            "postgres_processes_started": (
                len(background_after.keys() - background.keys()) if background else None
            ),
            "postgres_processes_ended": (
                len(background.keys() - background_after.keys()) if background else None
            ),
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
    finally:  # also when a writer failed: the PostgreSQL schema goes
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
