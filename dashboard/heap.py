"""An app process's start-up objects, kept out of the garbage collector's full collections.

CPython's cycle collector walks every object of the oldest generation in a full collection, with
the GIL held. After start-up a writer process holds about 155,000 such objects (the modules, classes
and caches of pandas, SQLAlchemy, pydantic, Streamlit), so one full collection costs 35-50 ms of
CPU, during which none of the process's sessions runs; under load on a busy machine that became
the slowest save of every writer (docs/performance.md). Objects alive after start-up live as long
as the process, so :func:`settle` collects once and then moves every surviving object into the
permanent generation that collections skip (:func:`gc.freeze`). Objects made later are collected
as before. The trade-off of ``gc.freeze``: an object frozen here that later becomes garbage in a
reference cycle is never freed. In the app that is whatever the first page run holds when it
opens the engine (that session's state, once per process); the engine itself is opened after
settling. The test suite switches settling off (``conftest.py``), as page tests run in the pytest
process itself.
"""

from __future__ import annotations

import gc
import threading

_lock = threading.Lock()
_settled = False


def settle() -> int:
    """Collect, then freeze what is left; once per process (later calls do nothing and return 0).
    Returns the number of objects frozen."""
    global _settled
    with _lock:
        if _settled:
            return 0
        gc.collect()
        before = gc.get_freeze_count()
        gc.freeze()
        _settled = True
        return gc.get_freeze_count() - before


def disable() -> None:
    """Make :func:`settle` do nothing in this process (the test suite's page tests)."""
    global _settled
    with _lock:
        _settled = True
