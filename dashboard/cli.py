"""The ``cartwatch`` command line.

    cartwatch grade ASSESSMENTS.csv [--drugs DRUGS.csv] [-o OUT.csv] [--policy SOP.json]
    cartwatch episodes ASSESSMENTS.csv --drugs DRUGS.csv [--patients PATIENTS.csv] [-o OUT.csv]
    cartwatch sample --patients N --seed S --out DIR
    cartwatch docs [--check]
    cartwatch policy
    cartwatch db upgrade [--url URL]
    cartwatch audit verify [--url URL]
    cartwatch export KIND --out DIR --user USER [--format F] [--dates D] [--site S] ...
    cartwatch import {patients,assessments,labs,drugs,events} FILE.csv --user USER [--url URL]
    cartwatch import fhir BUNDLE.json --user USER [--identifier-system SYS] [--timezone TZ]

'-' means standard input or output. ``--url`` defaults to CARTWATCH_DATABASE_URL, else the SQLite
file in the user data folder (dashboard.store.config). Exit status: 0 success, 2 bad input (every
problem on standard error, nothing written; for the database commands also a database that cannot
be opened or migrated, nothing changed), 1 stale docs or a broken audit chain.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from pydantic import ValidationError

from dashboard.cli_export import add_parser as add_export_parser
from dashboard.csv_contract import (
    TABLES,
    ContractError,
    ContractFile,
    Problem,
    TableSpec,
    read_table,
)
from dashboard.exports.fhir_mapping import STUDY_ID_SYSTEM
from grading import ASCO_2021, DISCLAIMER, Policy, grade_frame
from grading.course import EPISODE_COLUMNS, MASKING, grade_course
from grading.review_sheets import sheets

if TYPE_CHECKING:
    from sqlalchemy import Engine

DOCS_DIR = Path(__file__).resolve().parent.parent / "docs" / "criteria"
URL_HELP = "database URL (default: CARTWATCH_DATABASE_URL, else the SQLite file in the data folder)"


class InputError(Exception):
    """Bad input: the message lists every problem; the command exits 2 and writes nothing."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cartwatch", description=DISCLAIMER)
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser(
        "grade", help="grade a CSV of assessments (the interchange contract)"
    )
    grade.add_argument("input", help="CSV file, or - for standard input")
    grade.add_argument("--drugs", help="drug log CSV: derives antipyretic_or_anticytokine_given")
    grade.add_argument("-o", "--output", default="-", help="CSV file, or - for standard output")
    grade.add_argument("--policy", help="site policy JSON (default: ASCO 2021)")
    episodes = commands.add_parser("episodes", help="one row per CRS or ICANS episode")
    episodes.add_argument("input", help="assessments CSV, or - for standard input")
    episodes.add_argument("--drugs", required=True, help="drug log CSV")
    episodes.add_argument("--patients", help="patients CSV (infusion date for study days)")
    episodes.add_argument("-o", "--output", default="-")
    episodes.add_argument("--policy", help="site policy JSON (default: ASCO 2021)")
    sample = commands.add_parser("sample", help="write a synthetic cohort as CSV files")
    sample.add_argument("--patients", type=int, default=40)
    sample.add_argument("--seed", type=int, default=2026)
    sample.add_argument("--out", type=Path, required=True)
    docs = commands.add_parser("docs", help="write the review sheets into docs/criteria/")
    docs.add_argument("--check", action="store_true", help="only check that they are up to date")
    docs.add_argument("--dir", type=Path, default=DOCS_DIR)
    commands.add_parser("policy", help="print the default escalation policy as JSON")
    db = commands.add_parser("db", help="the database").add_subparsers(dest="action", required=True)
    upgrade = db.add_parser("upgrade", help="apply pending migrations; print the revision")
    upgrade.add_argument("--url", help=URL_HELP)
    audit = commands.add_parser("audit", help="the audit trail")
    verify = audit.add_subparsers(dest="action", required=True).add_parser(
        "verify", help="check the hash chain of the audit log, entry by entry"
    )
    verify.add_argument("--url", help=URL_HELP)
    importing = commands.add_parser(
        "import", help="import a CSV file, or a FHIR Bundle of lab results and vital signs"
    )
    importing.add_argument(
        "kind", choices=["patients", "assessments", "labs", "drugs", "events", "fhir"]
    )
    importing.add_argument("file", type=Path)
    importing.add_argument("--user", required=True, help="who imports (password: "
                           "CARTWATCH_PASSWORD or asked for)")  # fmt: skip
    importing.add_argument("--url", help=URL_HELP)
    importing.add_argument("--identifier-system", help="fhir only: the Patient identifier system "
                           f"whose value is the study id (default {STUDY_ID_SYSTEM})")  # fmt: skip
    importing.add_argument("--timezone", help="fhir only: the site's IANA time zone; FHIR times "
                           "are stored as its wall-clock time (default UTC)")  # fmt: skip
    load = commands.add_parser("load-sample", help="load the sample cohort and demo accounts")
    load.add_argument("--url", help=URL_HELP)
    alerts = commands.add_parser("alerts", help="alerts").add_subparsers(
        dest="action", required=True
    )
    refresh = alerts.add_parser("refresh", help="re-grade every patient and update alerts now")
    refresh.add_argument("--url", help=URL_HELP)
    add_export_parser(commands, URL_HELP)
    args = parser.parse_args(argv)
    try:
        if args.command == "import":
            _check_import_options(args)
        if args.command in ("import", "load-sample", "alerts", "export"):
            return _store_command(args)
        if args.command == "grade":
            return _grade(args.input, args.drugs, args.output, _policy(args.policy))
        if args.command == "episodes":
            return _episodes(args, _policy(args.policy))
        if args.command == "sample":
            return _sample(args.patients, args.seed, args.out)
        if args.command == "db":
            return _db_upgrade(args.url)
        if args.command == "audit":
            return _audit_verify(args.url)
    except InputError as error:
        print(error, file=sys.stderr)
        return 2
    if args.command == "docs":
        return _docs(args.dir, args.check)
    print(ASCO_2021.model_dump_json(indent=2))
    return 0


def _store_command(args: argparse.Namespace) -> int:
    from dashboard.cli_export import run as run_export
    from dashboard.cli_store import CommandError, run_import, run_load_sample, run_refresh

    engine = _open_database(args.url, migrate=True)
    try:
        if args.command == "export":
            return run_export(engine, args)
        if args.command == "import" and args.kind == "fhir":
            return _import_fhir(engine, args)
        if args.command == "import":
            return run_import(engine, args.kind, args.file, args.user)
        if args.command == "alerts":
            return run_refresh(engine)
        return run_load_sample(engine)
    except CommandError as error:
        raise InputError(str(error)) from None
    finally:
        engine.dispose()


def _check_import_options(args: argparse.Namespace) -> None:
    """The FHIR options only with ``fhir``, and a time zone that exists (before signing in)."""
    if args.kind != "fhir":
        given = [f"--{n}" for n in ("identifier-system", "timezone")
                 if getattr(args, n.replace("-", "_")) is not None]  # fmt: skip
        if given:
            raise InputError(f"{', '.join(given)}: only for `cartwatch import fhir`")
        return
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(args.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(
            f"--timezone {args.timezone!r}: not an IANA time zone (e.g. Europe/Berlin, UTC)"
        ) from None


def _import_fhir(engine: Engine, args: argparse.Namespace) -> int:
    """``cartwatch import fhir``: sign in, import the bundle, print what it did; every problem
    (entry index, FHIR element, value, reason) on standard error and exit 2, nothing stored."""
    from dashboard.cli_store import CommandError, sign_in
    from dashboard.services.fhir_import import PatientMap, import_fhir_bundle
    from dashboard.store.errors import AccessDeniedError
    from dashboard.store.importer import ImportRejectedError

    path: Path = args.file
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CommandError(f"{path}: {error.strerror}") from None
    actor = sign_in(engine, args.user)
    patients = PatientMap(identifier_system=args.identifier_system or STUDY_ID_SYSTEM)
    try:
        report = import_fhir_bundle(
            engine, actor, data, patients, site_timezone=args.timezone or "UTC", name=path.name
        )
    except ImportRejectedError as error:
        count = len(error.problems)
        lines = [f"{path}: nothing stored ({count} problem{'s' if count != 1 else ''})"]
        lines += [f"  {_fhir_problem(p)}" for p in error.problems]
        raise CommandError("\n".join(lines)) from None
    except AccessDeniedError as error:
        raise CommandError(str(error)) from None
    print(f"{path.name}: {report.entries} entries, {report.observations} observations")
    for label, part in (("lab results", report.labs), ("vital signs (assessments)", report.vitals)):
        if part is None:
            print(f"  {label}: none in the bundle")
            continue
        print(
            f"  {label}: {part.stored} stored, {part.skipped} already there, "
            f"{part.corrected_in_app} corrected in the app since (left as is); source {part.source}"
        )
    for reason, count in report.not_imported:
        print(f"  not imported: {count} × {reason}")
    for code in report.unmapped:
        shown = f" ({code.display})" if code.display else ""
        print(f"  unmapped code, skipped: {code.system}|{code.code}{shown}: {code.count} ×")
    return 0


def _fhir_problem(problem: Problem) -> str:
    """One problem of a bundle: ``entry 3, element valueQuantity.code, value 'g/L': reason``."""
    where = []
    if problem.row is not None:
        where.append(f"entry {problem.row}")
    if problem.column is not None:
        where.append(f"element {problem.column}")
    if problem.value is not None:
        where.append(f"value {problem.value!r}")
    return f"{', '.join(where)}: {problem.message}" if where else problem.message


def _policy(path: str | None) -> Policy:
    if not path:
        return ASCO_2021
    try:
        return Policy.model_validate_json(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValidationError) as error:
        raise InputError(f"policy {path}: {error}") from None


def _read(source: str, spec: TableSpec) -> ContractFile:
    try:
        if source == "-":
            return read_table(sys.stdin, spec)
        with open(source, encoding="utf-8-sig", newline="") as stream:
            return read_table(stream, spec)
    except OSError as error:
        raise InputError(f"{source}: {error.strerror}") from None
    except ContractError as error:
        raise InputError(
            f"{source}: {len(error.problems)} problem(s), nothing written\n{error}"
        ) from None


def _write(target: str, frame: pd.DataFrame) -> None:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    if target == "-":
        sys.stdout.write(buffer.getvalue())
    else:
        Path(target).write_text(buffer.getvalue(), encoding="utf-8")


def _grade(source: str, drugs_path: str | None, target: str, policy: Policy) -> int:
    contract = _read(source, TABLES["assessments"])
    typed, raw = contract.typed, contract.raw
    derived = drugs_path is not None and MASKING not in raw.columns
    if derived:
        assert drugs_path is not None
        drugs = _read(drugs_path, TABLES["drugs"]).typed
        course = grade_course(typed.drop(columns=[MASKING]), drugs, None, policy)
        by_row = course.assessments.sort_values("_row")
        typed = typed.assign(**{MASKING: by_row[MASKING].to_numpy()})
        raw = raw.assign(**{MASKING: typed[MASKING].map({True: "true", False: "false"})})
    _write(target, _contract_output(raw, grade_frame(typed, policy)))
    return 0


def _contract_output(raw: pd.DataFrame, graded: pd.DataFrame) -> pd.DataFrame:
    out = graded.copy()
    for column in ("tocilizumab_indicated", "steroids_indicated", "icu_indicated"):
        out[column] = out[column].map({True: "true", False: "false"})
    for column in ("crs_grade", "icans_grade"):
        out[column] = out[column].astype("string").fillna("")
    return pd.concat([raw.reset_index(drop=True), out.reset_index(drop=True)], axis=1)


def _episodes(args: argparse.Namespace, policy: Policy) -> int:
    assessments = _read(args.input, TABLES["assessments"]).typed
    drugs = _read(args.drugs, TABLES["drugs"]).typed
    patients = _read(args.patients, TABLES["patients"]).typed if args.patients else None
    if assessments[MASKING].notna().any():
        raise InputError(
            f"{args.input}: the column {MASKING} is filled in; `episodes` derives it from the drug "
            "log, so remove the column (or leave it blank) to avoid two sources of truth"
        )
    course = grade_course(assessments.drop(columns=[MASKING]), drugs, patients, policy)
    episodes = course.episodes[list(EPISODE_COLUMNS)].copy()
    for column in ("onset_at", "peak_at", "resolved_at"):
        episodes[column] = pd.to_datetime(episodes[column]).dt.strftime("%Y-%m-%dT%H:%M:%S")
    _write(args.output, episodes)
    return 0


def _sample(patients: int, seed: int, out: Path) -> int:
    from sample_data.generator import generate_cohort, write_cohort

    if patients < 1:
        raise InputError("--patients must be at least 1")
    written = write_cohort(generate_cohort(patients, seed), out)
    for name, path in written.items():
        print(f"{name}: {path}")
    return 0


def _docs(directory: Path, check: bool) -> int:
    stale = []
    for name, content in sheets().items():
        path = directory / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == content:
            continue
        stale.append(name)
        if not check:
            directory.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
    if check and stale:
        print(f"stale review sheets: {', '.join(stale)}; run `cartwatch docs`", file=sys.stderr)
        return 1
    print("review sheets " + ("up to date" if not stale else f"written: {', '.join(stale)}"))
    return 0


def _db_upgrade(url: str | None) -> int:
    from dashboard.store.database import current_revision

    engine = _open_database(url, migrate=True)
    try:
        shown = engine.url.render_as_string(hide_password=True)
        print(f"{shown}: at revision {current_revision(engine)} (head)")
    finally:
        engine.dispose()
    return 0


def _audit_verify(url: str | None) -> int:
    """Read-only: verifies the database as it is, so it can be run before an upgrade."""
    from sqlalchemy.orm import Session

    from dashboard.store import audit

    engine = _open_database(url, migrate=False)
    try:
        with Session(engine) as session:
            result = audit.verify(session)
    finally:
        engine.dispose()
    if result.ok:
        print(result.message)
        return 0
    detail = result.message.removeprefix(f"entry {result.first_broken}: ")
    print(f"audit chain broken at entry {result.first_broken}: {detail}", file=sys.stderr)
    return 1


def _open_database(url: str | None, *, migrate: bool) -> Engine:
    """An engine on ``url``: migrated to head, or (``migrate=False``) an existing cartwatch
    database left as it is. Problems opening it become :class:`InputError`."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from dashboard.store.config import database_url
    from dashboard.store.database import current_revision, open_database
    from dashboard.store.engine import make_engine
    from dashboard.store.errors import StoreError

    target = database_url() if url is None else url
    try:
        parsed = make_url(target)
    except ArgumentError:
        raise InputError(
            f"{target!r} is not a database URL; expected for example sqlite:///path/cartwatch.db "
            "or postgresql+psycopg://user@host/db"
        ) from None
    shown = parsed.render_as_string(hide_password=True)
    full = parsed.render_as_string(hide_password=False)
    file = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if not migrate and file and file != ":memory:" and not Path(file).exists():
        # Checked before connecting, which would create an empty file and verify that.
        raise InputError(f"{shown}: no such database file")
    try:
        if migrate:
            return open_database(full)
        engine = make_engine(full)
        try:
            revision = current_revision(engine)
        except BaseException:
            engine.dispose()
            raise
    except (SQLAlchemyError, StoreError, ImportError, ValueError) as error:  # ValueError: settings
        reason = str(error).strip().splitlines()[0]
        raise InputError(f"{shown}: cannot open the database ({reason})") from None
    if revision is None:
        engine.dispose()
        raise InputError(f"{shown}: not a cartwatch database (no migration applied)")
    return engine


if __name__ == "__main__":
    raise SystemExit(main())
