"""dashboard.heap.settle: start-up objects leave the collector's full collections, garbage made
before and after is still freed, and a second call changes nothing. Each case runs in a fresh
interpreter, so freezing does not reach into the test session's own heap."""

from __future__ import annotations

import json
import subprocess
import sys

SCENARIO = """
import gc, json, weakref
from dashboard import heap

class Node:
    pass

def cycle():
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)

kept = [Node() for _ in range(1000)]           # alive at settle: frozen
before = cycle()                                # garbage at settle: collected, not frozen
first = heap.settle()
frozen = gc.get_freeze_count()
second = heap.settle()
after = cycle()                                 # garbage made later: collected as usual
gc.collect()
walked = gc.get_objects()  # the objects in the generations a collection walks
print(json.dumps({
    "first": first, "frozen": frozen, "second": second, "frozen_after": gc.get_freeze_count(),
    "kept_frozen": not {id(k) for k in kept} & {id(o) for o in walked},
    "before_freed": before() is None, "after_freed": after() is None,
}))
"""


def run() -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", SCENARIO], capture_output=True, text=True, check=True, timeout=120
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_settle_freezes_what_is_alive_once_and_garbage_is_still_freed() -> None:
    out = run()
    assert out["before_freed"] is True  # collected by settle, not frozen with the rest
    assert out["after_freed"] is True  # later garbage is collected as before
    assert out["kept_frozen"] is True  # live objects left the generations a collection walks
    assert isinstance(out["first"], int)
    assert out["first"] >= 1000
    assert out["second"] == 0  # once per process: the second call froze nothing more
    assert out["frozen_after"] <= out["frozen"]  # (frozen objects are still freed by refcount)


def test_a_disabled_process_freezes_nothing() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import gc; from dashboard import heap; heap.disable(); "
         "print(heap.settle(), gc.get_freeze_count())"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert done.stdout.split() == ["0", "0"]
