"""An app process's start-up objects, kept out of the garbage collector's full collections.

CPython's cycle collector walks every object of the oldest generation in a full collection, with
the GIL held. After start-up an app process holds about 150,000 such objects (the modules, classes
and caches of pandas, SQLAlchemy, pydantic, Streamlit), so one full collection costs 35-50 ms of
CPU, during which none of the process's sessions runs; under load on a busy machine that became
the slowest save of every writer (docs/performance.md). Objects alive after start-up live as long
as the process, so :func:`settle` collects once and then moves every surviving object into the
permanent generation that collections skip (:func:`gc.freeze`). Objects made later are collected
as before; only a start-up object that becomes cyclic garbage later is never freed, which is
the documented trade-off of ``gc.freeze``.
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
