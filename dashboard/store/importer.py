"""Bulk import of patients, assessments, lab results, drug administrations and outcome events
(deaths, re-treatments) from CSV files.

    report = import_file(engine, nurse, "assessments", "ward3.csv", progress=bar)

An import is all or nothing, in four steps:

1. **The whole file is validated** (:func:`dashboard.csv_contract.read_table`): every bad cell,
   unknown or missing column is reported with its row (header = row 1), column and value. Times
   are local wall-clock times: one with a UTC offset is refused (it would not be recognised on
   re-import).
2. **Every row's patient must be writable by the importing user**: the patient exists and is at
   one of the user's sites, and the user may enter data (nurses and physicians; for ``patients``,
   the site exists and the user may enrol there). Steps 1 and 2 are reported together, so one
   run lists everything to fix.
3. **Nothing is stored twice and nothing is overwritten.** Each row has a natural key
   (assessments: patient_id + observed_at; labs: patient_id + collected_at + analyte; drugs:
   patient_id + given_at + drug; events: patient_id + occurred_at + event; patients:
   patient_id). A row whose key is stored with the same values is skipped; a row whose values
   match a version that has since been corrected or withdrawn in the app is skipped as well (the
   reasoned correction stands; the report counts these apart); a row whose key is stored with
   other values is a problem, one per differing column: the fix is a correction in the app, with
   a reason. A key repeated within the file is stored once if the rows agree, and is a problem
   if they do not.
4. **One transaction** (one :class:`UnitOfWork`; :func:`import_into` puts several files in one):
   rows go in with one INSERT per batch, each record with ``source = "import:<first 12 hex digits
   of the file's SHA-256>"`` and its own audit entry (written in batches, the hash chain linked
   entry by entry), plus one ``import`` entry naming the file, its hash and the counts. The
   touched patients are graded at the commit, as after any write. A failure or a killed process
   leaves the database as it was; an import that finds nothing new stores nothing and leaves no
   audit entry.

The audit head is locked before step 3, so the check and the insert see the same database (other
writers queue for the duration of the import, as they do for any write).

Any refusal raises :class:`ImportRejectedError` with the list of :class:`Problem` (row, column,
value, message); a user who may not import this kind at all gets :class:`AccessDeniedError`.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any, Literal, cast, get_args

import pandas as pd
from pydantic import BaseModel
from sqlalchemy import Engine, Select, Table, insert, select
from sqlalchemy.orm import Session

from dashboard.csv_contract import (
    TABLES,
    ContractError,
    ContractFile,
    Problem,
    TableSpec,
    read_table,
)
from dashboard.store import audit
from dashboard.store.access import Actor, Role
from dashboard.store.errors import AccessDeniedError, StoreError
from dashboard.store.records import (
    ASSESSMENTS,
    DRUGS,
    EVENTS,
    LABS,
    RecordKind,
    RecordRepository,
)
from dashboard.store.schema import Patient, Site
from dashboard.store.unit_of_work import UnitOfWork
from grading.records import Patient as PatientRecord

ImportKind = Literal["patients", "assessments", "labs", "drugs", "events"]
KINDS: tuple[ImportKind, ...] = get_args(ImportKind)
#: Called after every batch with the rows stored so far and the rows to store.
Progress = Callable[[int, int], None]
Source = IO[str] | IO[bytes] | str | os.PathLike[str]
BATCH_SIZE = 1000
Key = tuple[Any, ...]
_FIRST_VERSION = {"version": 1, "status": "current", "reason": None}


class ImportRejectedError(StoreError):
    """The file was refused and nothing was stored; ``problems`` lists everything to fix."""

    def __init__(self, file_name: str, problems: list[Problem]) -> None:
        self.file_name, self.problems = file_name, problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(
            f"{file_name}: nothing was imported ({count}):\n" + "\n".join(map(str, problems))
        )


@dataclass(frozen=True)
class ImportReport:
    """What one import did. ``rows == stored + skipped + corrected_in_app``."""

    kind: ImportKind
    file_name: str
    sha256: str
    rows: int
    stored: int
    skipped: int  # already stored with the same values (or repeated within the file)
    corrected_in_app: int  # stored before, since corrected or withdrawn in the app: left as is
    seconds: float

    @property
    def source(self) -> str:
        """The ``source`` the stored records carry."""
        return source_of(self.sha256)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def source_of(sha256: str) -> str:
    return f"import:{sha256[:12]}"


# -- what each kind is ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Target:
    kind: ImportKind
    spec: TableSpec
    key: tuple[str, ...]
    record_kind: RecordKind[Any] | None  # None for patients, who are not versioned

    def key_of(self, values: BaseModel | dict[str, Any]) -> Key:
        if isinstance(values, dict):
            return tuple(values[name] for name in self.key)
        return tuple(getattr(values, name) for name in self.key)  # StrEnum == its text

    def describe(self, key: Key) -> str:
        at = key[1].isoformat() if len(key) > 1 else ""
        match self.kind:
            case "assessments":
                return f"an assessment for {key[0]} at {at}"
            case "labs":
                return f"a {key[2]} result for {key[0]} collected at {at}"
            case "drugs":
                return f"a dose of {key[2]} for {key[0]} given at {at}"
            case "events":
                return f"a {key[2]} of {key[0]} at {at}"
            case _:
                return f"patient {key[0]}"


TARGETS: dict[ImportKind, _Target] = {
    "patients": _Target("patients", TABLES["patients"], ("patient_id",), None),
    "assessments": _Target(
        "assessments", TABLES["assessments"], ("patient_id", "observed_at"), ASSESSMENTS
    ),
    "labs": _Target("labs", TABLES["labs"], ("patient_id", "collected_at", "analyte"), LABS),
    "drugs": _Target("drugs", TABLES["drugs"], ("patient_id", "given_at", "drug"), DRUGS),
    "events": _Target("events", TABLES["events"], ("patient_id", "occurred_at", "event"), EVENTS),
}


def _patient_columns(patient: BaseModel) -> dict[str, Any]:
    """The ``patients`` row of a record, as :meth:`PatientRepository.add` writes it."""
    values = patient.model_dump(mode="python")
    return {k: (v.value if hasattr(v, "value") else v) for k, v in values.items()}


# -- the import -----------------------------------------------------------------------------------
def import_file(
    engine: Engine,
    actor: Actor,
    kind: ImportKind,
    stream_or_path: Source,
    progress: Progress | None = None,
    *,
    name: str | None = None,
    batch_size: int = BATCH_SIZE,
) -> ImportReport:
    """Import one CSV file of ``kind`` as ``actor`` in its own transaction: everything or nothing
    (module docstring). ``seconds`` includes the commit, where the touched patients are graded.

    ``stream_or_path`` is a path or an open file (text or bytes); ``name`` is the file name the
    audit log records (default: the path's name, or the stream's ``name``).
    """
    started = time.perf_counter()
    with UnitOfWork(engine, actor) as uow:
        report = import_into(uow, kind, stream_or_path, progress, name=name, batch_size=batch_size)
        if report.stored:
            uow.commit()
    return dataclasses.replace(report, seconds=time.perf_counter() - started)


def import_into(
    uow: UnitOfWork,
    kind: ImportKind,
    stream_or_path: Source,
    progress: Progress | None = None,
    *,
    name: str | None = None,
    batch_size: int = BATCH_SIZE,
) -> ImportReport:
    """:func:`import_file` into an open unit of work, without committing, as ``uow.actor``.

    Several files then go in one transaction: a patient's drugs, labs and assessments imported
    together are graded once, at the commit, from the whole course (imported one by one, each
    commit grades a partial course and may raise alerts that the next file resolves). Patients
    imported earlier in the same unit of work count as existing. The caller commits; leaving the
    unit of work without committing stores none of the files.
    """
    started = time.perf_counter()
    if kind not in TARGETS:
        raise ValueError(f"unknown import kind {kind!r}: use one of {', '.join(KINDS)}")
    target, actor, session = TARGETS[kind], uow.actor, uow.session
    _require_role(actor, target)
    text, digest, file_name = _read(stream_or_path, name)
    header, rows = _raw_rows(text)
    contract, problems = _validate(text, header, rows, target.spec)
    problems += _offset_problems(header, rows, target.spec)
    problems += _access_problems(session, actor, target, header, rows)
    if problems:
        raise ImportRejectedError(file_name, sorted(problems, key=_problem_order))
    assert contract is not None
    chain = audit.Chain(session)  # locked from here to the end: checks and inserts agree
    plan = _plan(session, target, contract)
    if plan.problems:
        raise ImportRejectedError(file_name, plan.problems)
    report = ImportReport(
        kind=kind,
        file_name=file_name,
        sha256=digest,
        rows=len(contract.typed),
        stored=len(plan.new),
        skipped=plan.skipped,
        corrected_in_app=plan.corrected,
        seconds=0.0,
    )
    if plan.new:
        summary = {"file": file_name, **dataclasses.asdict(report), "source": report.source}
        del summary["seconds"], summary["file_name"]
        chain.append([(actor.username, "import", kind, digest, summary)])
        _insert(uow, target, plan.new, report.source, chain, progress, batch_size)
    elif progress is not None:
        progress(0, 0)
    return dataclasses.replace(report, seconds=time.perf_counter() - started)


def _require_role(actor: Actor, target: _Target) -> None:
    allowed: tuple[Role, ...] = (Role.NURSE, Role.PHYSICIAN)
    if target.record_kind is None:
        allowed += (Role.ADMIN,)  # as PatientRepository.add: admins may enrol
    if actor.role not in allowed:
        raise AccessDeniedError(
            f"{actor.username} ({actor.role.value}) cannot import {target.kind}: "
            f"only {' or '.join(r.value for r in allowed)} accounts can"
        )


def _read(source: Source, name: str | None) -> tuple[str, str, str]:
    """The text, the SHA-256 of the bytes (of the UTF-8 text for a text stream) and a file name."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        data, file_name = path.read_bytes(), name or path.name
    else:
        content = source.read()
        data = content.encode() if isinstance(content, str) else content
        file_name = name or Path(str(getattr(source, "name", "<stream>"))).name
    digest = hashlib.sha256(data).hexdigest()
    try:
        return data.decode("utf-8-sig"), digest, file_name
    except UnicodeDecodeError as error:
        message = f"the file is not UTF-8 text ({error.reason} at byte {error.start}): save it as CSV UTF-8"
        raise ImportRejectedError(file_name, [Problem(None, None, None, message)]) from None


def _raw_rows(text: str) -> tuple[list[str], list[list[str]]]:
    """Header and non-blank rows, as read_table numbers them (row ``i`` is spreadsheet row i + 2)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [name.strip() for name in next(reader, [])]
    return header, [row for row in reader if any(cell.strip() for cell in row)]


def _validate(
    text: str, header: list[str], rows: list[list[str]], spec: TableSpec
) -> tuple[ContractFile | None, list[Problem]]:
    """The typed file, or every problem: when the header has unknown or repeated columns,
    read_table stops at the header, so the rows are read again without those columns to report
    their cells too."""
    try:
        return read_table(io.StringIO(text, newline=""), spec), []
    except ContractError as error:
        problems = list(error.problems)
    keep = [i for i, name in enumerate(header) if name in spec.columns and name not in header[:i]]
    if not header or len(keep) == len(header):
        return None, problems
    buffer, numbers = io.StringIO(newline=""), []
    writer = csv.writer(buffer)
    writer.writerow(header[i] for i in keep)
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            message = f"{len(row)} cells, but the header has {len(header)} columns"
            problems.append(Problem(number, None, None, message))
        elif any(row[i].strip() for i in keep):
            writer.writerow(row[i] for i in keep)
            numbers.append(number)
    buffer.seek(0)
    try:
        read_table(buffer, spec)
    except ContractError as error:
        problems += [
            dataclasses.replace(p, row=numbers[p.row - 2])
            for p in error.problems
            if p.row is not None and p.row > 1
        ]
    return None, problems


def _offset_problems(header: list[str], rows: list[list[str]], spec: TableSpec) -> list[Problem]:
    """Instants with a UTC offset: the store keeps clinical times as the site's wall-clock time
    without an offset (a DateTime column), and the backends would store such a value differently
    (SQLite drops the offset, PostgreSQL converts to UTC), so a re-import could not recognise it."""
    columns = [(i, name) for i, name in enumerate(header) if spec.times.get(name) is datetime]
    problems = []
    for number, row in enumerate(rows, start=2):
        for index, column in columns:
            cell = row[index].strip() if index < len(row) else ""
            try:
                value = datetime.fromisoformat(cell)
            except ValueError:
                continue  # blank or malformed: the contract reports it
            if value.tzinfo is not None:
                local = value.replace(tzinfo=None).isoformat()
                message = (
                    f"a time with a UTC offset cannot be imported: write the local time ({local})"
                )
                problems.append(Problem(number, column, row[index], message))
    return problems


def _access_problems(
    session: Session, actor: Actor, target: _Target, header: list[str], rows: list[list[str]]
) -> list[Problem]:
    """Rows whose patient (for ``patients``: whose site) this user may not write."""
    column = "site_id" if target.record_kind is None else "patient_id"
    if column not in header:
        return []  # reported as a missing column
    index = header.index(column)
    cells = {n: row[index].strip() for n, row in enumerate(rows, start=2) if index < len(row)}
    cells = {number: cell for number, cell in cells.items() if cell}  # blank: a contract problem
    if target.record_kind is None:
        return _site_problems(session, actor, cells)
    return _patient_problems(session, actor, cells)


def _site_problems(session: Session, actor: Actor, cells: dict[int, str]) -> list[Problem]:
    query = select(Site.site_id)
    known = {row.site_id for row in _in_chunks(session, query, Site.site_id, cells.values())}
    problems = []
    for number, site_id in cells.items():
        if site_id not in known:
            message = "no such site: an administrator adds the site first"
            problems.append(Problem(number, "site_id", site_id, message))
        elif actor.role is not Role.ADMIN and site_id not in actor.site_ids:
            message = f"{actor.username} cannot enrol patients at this site"
            problems.append(Problem(number, "site_id", site_id, message))
    return problems


def _patient_problems(session: Session, actor: Actor, cells: dict[int, str]) -> list[Problem]:
    query = select(Patient.patient_id, Patient.site_id)
    rows = _in_chunks(session, query, Patient.patient_id, cells.values())
    site_of = {row.patient_id: row.site_id for row in rows}
    message = (
        f"no patient with this id at {actor.username}'s sites "
        f"({', '.join(sorted(actor.site_ids)) or 'none'}): enrol the patient first (import "
        "patients), or ask a nurse or physician of the patient's site"
    )  # the same words whether the patient is unknown or elsewhere: nothing leaks
    return [
        Problem(number, "patient_id", patient_id, message)
        for number, patient_id in cells.items()
        if site_of.get(patient_id) not in actor.site_ids
    ]


def _in_chunks(
    session: Session, query: Select[*tuple[Any, ...]], key: Any, wanted: Iterable[str]
) -> Iterator[Any]:
    """The rows of ``query`` whose ``key`` is in ``wanted``, a few hundred keys per statement."""
    wanted = sorted(set(wanted))
    for start in range(0, len(wanted), 500):
        yield from session.execute(query.where(key.in_(wanted[start : start + 500])))


def _problem_order(problem: Problem) -> tuple[int, str]:
    return (problem.row or 0, problem.column or "")


# -- step 3: what is new, what is known, what conflicts -------------------------------------------
@dataclass
class _Plan:
    new: list[BaseModel] = dataclasses.field(default_factory=list)
    skipped: int = 0
    corrected: int = 0
    problems: list[Problem] = dataclasses.field(default_factory=list)


@dataclass(frozen=True)
class _Stored:
    record_id: str
    status: str
    values: dict[str, Any]


def _plan(session: Session, target: _Target, contract: ContractFile) -> _Plan:
    columns = _to_columns(target)
    records = _records(contract, target.spec)
    raw = [{str(k): v for k, v in row.items()} for row in contract.raw.to_dict("records")]
    stored = _stored(session, target, sorted({str(target.key_of(r)[0]) for r in records}))
    plan, first_in_file = _Plan(), dict[Key, tuple[int, BaseModel]]()
    for number, record in enumerate(records, start=2):
        key = target.key_of(record)
        if key in first_in_file:
            first_number, first = first_in_file[key]
            if columns(record) == columns(first):
                plan.skipped += 1
            else:
                where = f"row {first_number}"
                message = f"{target.describe(key)} is also in {where}, with other values"
                cells = raw[number - 2]
                known, new = columns(first), columns(record)
                plan.problems += _differences(number, known, new, cells, message, where)
            continue
        first_in_file[key] = (number, record)
        versions = stored.get(key)
        if not versions:
            plan.new.append(record)
            continue
        values = columns(record)
        current = [v for v in versions if v.status == "current"]
        if any(v.values == values for v in current):
            plan.skipped += 1
        elif any(v.values == values for v in versions):
            plan.corrected += 1  # the file's values were corrected or withdrawn since: keep that
        elif current:
            message = (
                f"{target.describe(key)} already exists with other values; correct it in the "
                "app with a reason (an import never overwrites a stored record)"
            )
            cells, known = raw[number - 2], current[0].values
            plan.problems += _differences(number, known, values, cells, message, "stored")
        else:
            message = (
                f"{target.describe(key)} was stored with other values and later corrected or "
                f"withdrawn in the app (record {versions[0].record_id}); correct it in the app "
                "with a reason"
            )
            plan.problems.append(Problem(number, None, None, message))
    return plan


def _to_columns(target: _Target) -> Callable[[BaseModel], dict[str, Any]]:
    kind = target.record_kind
    return _patient_columns if kind is None else kind.to_columns


def _records(contract: ContractFile, spec: TableSpec) -> list[BaseModel]:
    """The validated models of the typed frame (blank cells left out, pandas types undone)."""
    frame = contract.typed.astype(object)
    frame = frame.where(frame.notna(), None)
    records = []
    for values in frame.to_dict("records"):
        clean = {
            str(k): (v.to_pydatetime() if isinstance(v, pd.Timestamp) else v)
            for k, v in values.items()
            if v is not None
        }
        records.append(spec.model.model_validate(clean))
    return records


def _stored(session: Session, target: _Target, patient_ids: list[str]) -> dict[Key, list[_Stored]]:
    """Every stored version (current, superseded, withdrawn) of these patients, by natural key."""
    found: dict[Key, list[_Stored]] = {}
    if target.record_kind is None:
        fields = tuple(PatientRecord.model_fields)
        query = select(*(getattr(Patient, f) for f in fields))
        for row in _in_chunks(session, query, Patient.patient_id, patient_ids):
            values = {f: row._mapping[f] for f in fields}
            found[target.key_of(values)] = [_Stored(values["patient_id"], "current", values)]
        return found
    fields, table = target.record_kind.fields, target.record_kind.row
    query = select(table.record_id, table.status, *(getattr(table, f) for f in fields))
    for row in _in_chunks(session, query, table.patient_id, patient_ids):
        values = {f: row._mapping[f] for f in fields}
        version = _Stored(row.record_id, row.status, values)
        found.setdefault(target.key_of(values), []).append(version)
    return found


def _differences(
    number: int,
    known: dict[str, Any],
    new: dict[str, Any],
    cells: dict[str, Any],
    message: str,
    where: str,
) -> list[Problem]:
    """One problem per column whose value differs: the file's cell and the value ``where``."""
    problems = []
    for column in sorted(known.keys() | new.keys()):
        was = known.get(column)
        if was != new.get(column):
            shown = "blank" if was is None else _shown(was)
            message_here = f"{message} ({where}: {shown})"
            problems.append(Problem(number, column, cells.get(column), message_here))
    return problems


def _shown(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime | date) else repr(value)


# -- step 4: one transaction, batched inserts, every record audited -------------------------------
def _insert(
    uow: UnitOfWork,
    target: _Target,
    records: list[BaseModel],
    source: str,
    chain: audit.Chain,
    progress: Progress | None,
    batch_size: int,
) -> None:
    session, actor = uow.session, uow.actor
    total = len(records)
    if progress is not None:
        progress(0, total)
    repository = _repository(uow, target)
    for start in range(0, total, batch_size):
        now = datetime.now(UTC)
        rows: list[dict[str, Any]] = []
        entries: list[audit.Item] = []
        for record in records[start : start + batch_size]:
            if repository is None:  # as PatientRepository.add writes it
                values = _patient_columns(record)
                rows.append({**values, "created_by": actor.user_id, "created_at": now})
                detail: dict[str, Any] = {"new": values, "source": source}
                entries.append((actor.username, "create", "patient", values["patient_id"], detail))
                continue
            values = repository.kind.to_columns(record)  # as RecordRepository.add writes it
            late = repository.is_late(record, now)
            record_id = str(uuid.uuid4())
            rows.append(
                {
                    **values,
                    **_FIRST_VERSION,
                    "record_id": record_id,
                    "entered_by": actor.user_id,
                    "entered_at": now,
                    "late_entry": late,
                    "source": source,
                }
            )
            detail = {  # as RecordRepository.add audits it
                "patient_id": values["patient_id"],
                "new": values,
                "late_entry": late,
                "source": source,
            }
            entries.append((actor.username, "create", repository.kind.name, record_id, detail))
        table = Patient if repository is None else repository.kind.row
        # Core INSERT on the table: one executemany per batch (the ORM bulk path splits the rows
        # into one statement per pattern of blank cells). Blank JSON cells are stored as JSON
        # null, as the ORM stores them.
        session.execute(insert(_table(table)), rows)
        chain.append(entries)
        if repository is not None:
            repository.touched.update(str(row["patient_id"]) for row in rows)  # re-graded on commit
        if progress is not None:
            progress(min(start + batch_size, total), total)


def _table(mapped: Any) -> Table:
    return cast(Table, mapped.__table__)


def _repository(uow: UnitOfWork, target: _Target) -> RecordRepository[Any] | None:
    match target.kind:
        case "assessments":
            return uow.assessments
        case "labs":
            return uow.labs
        case "drugs":
            return uow.drugs
        case "events":
            return uow.events
        case _:
            return None
