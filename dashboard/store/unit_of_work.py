"""One unit of work per user action: everything commits together or nothing does (Cosmic Python).

    with UnitOfWork(engine, actor) as uow:
        uow.assessments.add(assessment)
        uow.commit()       # re-grades the touched patients and raises alerts, then commits

Leaving the block without ``commit()`` (or on an exception) rolls back.

``UnitOfWork(engine, actor, read_only=True)`` is for pages that only read: on SQLite it begins a
deferred transaction that reads a WAL snapshot and never queues behind writers (no writer lock,
:mod:`dashboard.store.engine`); its ``commit()`` is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from dashboard.store.access import Actor
from dashboard.store.engine import READ_ONLY
from dashboard.store.errors import ConnectionLostError, StoreError
from dashboard.store.people import PatientRepository, PeopleRepository
from dashboard.store.records import ASSESSMENTS, DRUGS, EVENTS, LABS, RecordRepository

#: session.info while the hooks run: the patients whose labs or drugs this commit changed (the
#: alert engine recomputes lab findings only for them).
LAB_INPUTS_TOUCHED = "cartwatch.lab_inputs_touched"
#: Called before commit with the session and the patients whose records changed; the alert
#: engine registers itself here (dashboard.store.alert_engine).
AfterWrite = Callable[[Session, set[str]], None]
_after_write: list[AfterWrite] = []


def on_write(hook: AfterWrite) -> AfterWrite:
    _after_write.append(hook)
    return hook


class UnitOfWork:
    def __init__(self, engine: Engine, actor: Actor, *, read_only: bool = False) -> None:
        self.engine, self.actor, self.read_only = engine, actor, read_only
        self._committed = self._committing = False

    def __enter__(self) -> UnitOfWork:
        bind = self.engine.execution_options(**{READ_ONLY: True}) if self.read_only else self.engine
        self.session = Session(bind, expire_on_commit=False, autoflush=True)
        self.people = PeopleRepository(self.session, self.actor)
        self.patients = PatientRepository(self.session, self.actor)
        self.assessments = RecordRepository(self.session, self.actor, ASSESSMENTS)
        self.labs = RecordRepository(self.session, self.actor, LABS)
        self.drugs = RecordRepository(self.session, self.actor, DRUGS)
        #: Deaths and re-treatments: they change no grade, so they do not re-grade the course.
        self.events = RecordRepository(self.session, self.actor, EVENTS)
        return self

    def commit(self) -> None:
        if self.read_only:
            raise StoreError("a read-only unit of work cannot commit")
        touched = self.assessments.touched | self.labs.touched | self.drugs.touched
        if touched:
            # Lab findings are recomputed only for these (dashboard.store.alert_engine).
            self.session.info[LAB_INPUTS_TOUCHED] = self.labs.touched | self.drugs.touched
            for hook in _after_write:
                hook(self.session, touched)
            del self.session.info[LAB_INPUTS_TOUCHED]
        self._committing = True
        self.session.commit()
        self._committed = True
        for repository in (self.assessments, self.labs, self.drugs, self.events):
            repository.touched.clear()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if not self._committed or kind is not None:
            self.session.rollback()
        self.session.close()
        lost = isinstance(error, DBAPIError) and error.connection_invalidated
        if lost and not self._committing:
            # Before COMMIT was sent: the server ended the transaction with the connection.
            # (A connection lost during the commit itself is left as it is: whether the server
            # committed is not known here, so "nothing was saved" would not be true.)
            raise ConnectionLostError(
                "the connection to the database was lost (server restart or network failure) "
                "before anything was committed; try again"
            ) from error


from dashboard.store import alert_engine as _alert_engine  # noqa: E402, F401  (installs the hook)
