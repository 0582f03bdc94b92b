"""Store commands of ``cartwatch``: ``import`` and ``load-sample`` (kept apart from cli.py)."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

from sqlalchemy import Engine, func, select

from dashboard.store import alert_engine
from dashboard.store.access import SYSTEM, Actor
from dashboard.store.errors import AccessDeniedError
from dashboard.store.importer import KINDS, ImportRejectedError, import_file
from dashboard.store.sample import NotADemoDatabaseError, load_sample
from dashboard.store.schema import AlertRow, Patient
from dashboard.store.unit_of_work import UnitOfWork

PASSWORD_VAR = "CARTWATCH_PASSWORD"


class CommandError(Exception):
    """Refused: the message says why; the command exits 2 and stored nothing."""


def sign_in(engine: Engine, username: str) -> Actor:
    """The user's identity, password from CARTWATCH_PASSWORD or asked for on the terminal."""
    password = os.environ.get(PASSWORD_VAR) or getpass.getpass(f"password for {username}: ")

    with UnitOfWork(engine, SYSTEM) as uow:
        actor = uow.people.authenticate(username, password)
        uow.commit()  # a re-hashed password is saved
    if actor is None:
        raise CommandError(f"sign-in failed for {username!r}")
    return actor


def _bar(done: int, total: int) -> None:
    width = 30
    filled = width if total == 0 else int(width * done / total)
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} rows", end="",
          file=sys.stderr, flush=True)  # fmt: skip
    if done >= total:
        print(" - grading the touched patients...", file=sys.stderr, flush=True)


def run_import(engine: Engine, kind: str, path: Path, username: str) -> int:
    if kind not in KINDS:
        raise CommandError(f"unknown kind {kind!r} (allowed: {', '.join(KINDS)})")
    actor = sign_in(engine, username)
    try:
        report = import_file(engine, actor, kind, path, progress=_bar)
    except ImportRejectedError as error:
        raise CommandError(f"{path}: nothing stored\n{error}") from None
    except AccessDeniedError as error:
        raise CommandError(str(error)) from None
    print(
        f"{path.name}: {report.stored} stored, {report.skipped} already there, "
        f"{report.corrected_in_app} corrected in the app since (left as is); source "
        f"{report.source}; {report.seconds:.1f} s"
    )
    return 0


def run_load_sample(engine: Engine) -> int:
    try:
        loaded = load_sample(engine)
    except NotADemoDatabaseError as error:
        raise CommandError(str(error)) from None
    print("Sample cohort loaded (synthetic data). Demo accounts, for demonstration only:")
    for account in loaded["accounts"]:
        sites = ", ".join(account.site_ids) or "all (administrator)"
        print(f"  {account.username:<16} {account.role.value:<11} {account.password:<22} {sites}")
    for kind, count in loaded["stored"].items():
        print(f"  {kind}: {count} stored, {loaded['skipped'][kind]} already there")
    return 0


def run_refresh(engine: Engine) -> int:
    """Re-grade every patient and update alerts now, so that overdue assessments and IVIG due
    dates become alerts between writes too. Run it on a schedule (cron, systemd timer)."""
    with UnitOfWork(engine, SYSTEM) as uow:
        patient_ids = list(uow.session.execute(select(Patient.patient_id)).scalars())
        alert_engine.refresh(uow.session, patient_ids)
        uow.session.commit()
        rows = uow.session.execute(select(AlertRow.state, func.count()).group_by(AlertRow.state))
        counts = {str(state): int(count) for state, count in rows}
    shown = ", ".join(f"{count} {state}" for state, count in sorted(counts.items())) or "none"
    print(f"refreshed {len(patient_ids)} patients; alerts: {shown}")
    return 0
