"""Profile one save (a unit of work that re-grades the patient and upserts alerts).

    .venv/bin/python benchmarks/profile_save.py [--backend postgresql] [--saves 60] [--rounds 5]
        [--full] [--statements] [--no-profile]

First the CPU of a save without the profiler, in ``--rounds`` rounds of ``--saves`` saves, each
round for a new patient whose course grows to ``--saves`` assessments (median and minimum over the
rounds: this machine is a small VM whose process times vary by tens of per cent from one second
to the next). Per save: the client's process time, the SQL statements it
sends (counted with a ``before_cursor_execute`` listener; BEGIN, COMMIT and the pool's pre-ping are
sent by the driver and not counted) and, on PostgreSQL when the server runs on this machine, the
server's CPU: the on-CPU time of the connection's backend process (``/proc/<pid>/schedstat``, in
nanoseconds) and of every ``postgres`` process together (WAL writer, checkpointer ... included).
Then the mean time under cProfile and its top cumulative lines. ``--statements`` prints the
statements of one save. ``--full``: the alert engine's reference path (grade_course) instead of
the fast path. PostgreSQL: 127.0.0.1:5432 database test, in a fresh schema dropped afterwards.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
from typing import Any

from sqlalchemy import Engine, event
from store_bench import (
    add_nurse_and_patients,
    backend_pid,
    create_store,
    on_cpu_ns,
    postgres_cpu_ns,
)
from store_bench import save as store_save

from dashboard.store import alert_engine
from dashboard.store.access import Actor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--saves", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--full", action="store_true", help="the reference path (grade_course)")
    parser.add_argument("--statements", action="store_true", help="print one save's statements")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile part")
    args = parser.parse_args()
    alert_engine.FAST_PATH = not args.full
    store = create_store(args.backend, "profile")
    engine = store.engine()
    nurse = add_nurse_and_patients(
        engine, "Profile site", "profile-nurse", ["W", *(f"W{r}" for r in range(args.rounds))]
    )
    save(engine, nurse, 0)  # warm up imports and caches
    statements: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _count(*args: Any) -> None:
        statements.append(" ".join(str(args[2]).split()))

    backend = backend_pid(engine) if args.backend == "postgresql" else None
    client, own, every = [], [], []
    for r in range(args.rounds):
        server = _server_cpu(backend)
        cpu = time.process_time()
        for i in range(1, args.saves + 1):
            save(engine, nurse, i, f"W{r}")
        client.append((time.process_time() - cpu) / args.saves * 1000)
        server_after = _server_cpu(backend)
        if server is not None and server_after is not None:
            own.append((server_after[0] - server[0]) / args.saves / 1e6)
            every.append((server_after[1] - server[1]) / args.saves / 1e6)
    print(
        f"{args.backend}, {'reference' if args.full else 'fast'} path, {args.rounds} rounds of "
        f"{args.saves} saves (a patient growing to {args.saves} assessments each), per save: "
        f"{len(statements) / args.saves / args.rounds:.1f} statements; client CPU (process time) "
        f"median {statistics.median(client):.2f} ms, min {min(client):.2f} ms"
    )
    if own:
        print(
            f"server CPU per save: backend median {statistics.median(own):.2f} ms, min "
            f"{min(own):.2f} ms; all postgres processes median {statistics.median(every):.2f} ms"
        )
    if args.statements:
        statements.clear()
        save(engine, nurse, args.saves + 1, "W0")
        for statement in statements:
            print(f"  {statement[:160]}")
    if not args.no_profile:
        profile = cProfile.Profile()
        start = time.perf_counter()
        profile.enable()
        for i in range(args.saves + 2, 2 * args.saves + 2):
            save(engine, nurse, i, "W")
        profile.disable()
        mean = (time.perf_counter() - start) / args.saves * 1000
        print(f"mean save: {mean:.1f} ms (under cProfile)")
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
    engine.dispose()
    store.drop()


def _server_cpu(backend: int | None) -> tuple[int, int] | None:
    """On-CPU nanoseconds of the backend and of all postgres processes, or None if not readable
    (no local server, or not Linux)."""
    if backend is None:
        return None
    try:
        own = on_cpu_ns(backend)
    except OSError:
        return None
    return own, sum(postgres_cpu_ns().values())


def save(engine: Engine, nurse: Actor, i: int, patient_id: str = "W") -> None:
    store_save(engine, nurse, patient_id, i, temperature_c=38.2)


if __name__ == "__main__":
    main()
