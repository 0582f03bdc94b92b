"""Read CSV files into validated records: the assessment interchange contract (README, "Data
dictionary") and the course tables (patients, labs, drugs, infections, LICATS, outcome events).

The whole file is validated before anything is used: every problem is reported with its row (the
spreadsheet row, header = row 1), column, value and what is allowed, and nothing is returned unless
the whole file is valid. An unknown column is an error, so a misspelt header can never silently drop
a finding. A blank cell means "not recorded"; booleans are exactly ``true`` or ``false``.
"""

from __future__ import annotations

import csv
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any

import pandas as pd
from pydantic import BaseModel, ValidationError

from grading import Assessment
from grading.assessment import ERROR_FIELD
from grading.frame import EXTRA_COLUMNS, INPUT_COLUMNS
from grading.records import (
    DrugAdministration,
    InfectionEvent,
    LabResult,
    LicatsEvent,
    OutcomeEvent,
    Patient,
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, said so that it can be fixed."""

    row: int | None
    column: str | None
    value: str | None
    message: str

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        if self.value is not None:
            where.append(f"value {self.value!r}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class ContractError(ValueError):
    """The file breaks the contract; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class ContractFile:
    """The file as read (text cells, header order) and the validated, typed records."""

    raw: pd.DataFrame
    typed: pd.DataFrame


@dataclass(frozen=True)
class TableSpec:
    """What a CSV of one record type may hold, read off its pydantic model."""

    model: type[BaseModel]
    columns: tuple[str, ...]
    required: tuple[str, ...]
    booleans: frozenset[str]
    numbers: dict[str, type]
    times: dict[str, type]  # datetime or date columns, parsed as ISO 8601


def _base_type(annotation: Any) -> Any:
    """The type inside ``X | None`` and ``Annotated[X, ...]``."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        else:
            return annotation


def spec_of(model: type[BaseModel], columns: Iterable[str] | None = None) -> TableSpec:
    fields = model.model_fields
    names = tuple(columns) if columns is not None else tuple(fields)
    kinds = {name: _base_type(fields[name].annotation) for name in names}
    return TableSpec(
        model=model,
        columns=names,
        required=tuple(name for name in names if fields[name].is_required()),
        booleans=frozenset(name for name, kind in kinds.items() if kind is bool),
        numbers={name: kind for name, kind in kinds.items() if kind in (int, float)},
        times={name: kind for name, kind in kinds.items() if kind in (datetime, date)},
    )


ASSESSMENTS = spec_of(Assessment, (*INPUT_COLUMNS, *EXTRA_COLUMNS))
TABLES = {
    "assessments": ASSESSMENTS,
    "patients": spec_of(Patient),
    "labs": spec_of(LabResult),
    "drugs": spec_of(DrugAdministration),
    "infections": spec_of(InfectionEvent),
    "licats": spec_of(LicatsEvent),
    "events": spec_of(OutcomeEvent),  # deaths and re-treatments
}


def read_assessments(stream: IO[str]) -> ContractFile:
    """Read and validate a whole assessment CSV; raise :class:`ContractError` listing every problem."""
    return read_table(stream, ASSESSMENTS)


def read_table(stream: IO[str], spec: TableSpec) -> ContractFile:
    """Read and validate a whole CSV of ``spec``'s records; raise :class:`ContractError`."""
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None:
        raise ContractError(
            [Problem(None, None, None, "the file is empty: a header row is needed")]
        )
    header = [name.strip() for name in header]
    problems = _header_problems(header, spec)
    if problems:
        raise ContractError(problems)
    rows = [row for row in reader if any(cell.strip() for cell in row)]
    records = []
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            message = f"{len(row)} cells, but the header has {len(header)} columns"
            problems.append(Problem(number, None, None, message))
            continue
        cells = dict(zip(header, row, strict=True))
        record, row_problems = _convert(number, cells, spec)
        problems += row_problems
        if not row_problems:
            problems += _validate(number, record, cells, spec)
        records.append(record)
    if problems:
        raise ContractError(problems)
    raw = pd.DataFrame(rows, columns=header, dtype=object)
    typed = pd.DataFrame.from_records(records, columns=list(spec.columns))
    return ContractFile(raw=raw, typed=typed)


def _header_problems(header: list[str], spec: TableSpec) -> list[Problem]:
    problems = []
    allowed = ", ".join(spec.columns)
    for name in header:
        if name not in spec.columns:
            problems.append(Problem(1, name, None, f"unknown column (allowed: {allowed})"))
    for name in sorted({n for n in header if header.count(n) > 1}):
        problems.append(Problem(1, name, None, "column appears more than once"))
    for name in spec.required:
        if name not in header:
            problems.append(Problem(1, name, None, "required column is missing"))
    return problems


def _convert(
    number: int, cells: dict[str, str], spec: TableSpec
) -> tuple[dict[str, object], list[Problem]]:
    record: dict[str, object] = dict.fromkeys(spec.columns)
    problems = []
    for name, cell in cells.items():
        text = cell.strip()
        if text == "":
            continue  # blank means not recorded, never normal
        if name in spec.booleans:
            if text not in ("true", "false"):
                problems.append(Problem(number, name, cell, "must be true or false (or blank)"))
                continue
            record[name] = text == "true"
        elif name in spec.numbers:
            kind = spec.numbers[name]
            try:
                number_value = float(text)
            except ValueError:
                whole = " (a whole number)" if kind is int else ""
                problems.append(Problem(number, name, cell, f"must be a number{whole}"))
                continue
            if kind is int and not number_value.is_integer():
                problems.append(Problem(number, name, cell, "must be a whole number"))
                continue
            record[name] = int(number_value) if kind is int else number_value
        elif name in spec.times:
            try:
                record[name] = spec.times[name].fromisoformat(text)  # type: ignore[attr-defined]
            except ValueError:
                shape = "YYYY-MM-DDTHH:MM:SS" if spec.times[name] is datetime else "YYYY-MM-DD"
                problems.append(Problem(number, name, cell, f"must be ISO 8601 ({shape})"))
                continue
        else:
            record[name] = text
    return record, problems


def _validate(
    number: int, record: dict[str, object], cells: dict[str, str], spec: TableSpec
) -> list[Problem]:
    try:
        spec.model.model_validate({k: v for k, v in record.items() if v is not None})
    except ValidationError as error:
        return [_problem(number, e, cells) for e in error.errors(include_url=False)]
    return []


def _problem(number: int, error: object, cells: dict[str, str]) -> Problem:
    assert isinstance(error, dict)
    loc = error.get("loc") or ()
    column = str(loc[0]) if loc else ERROR_FIELD.get(str(error.get("type")))
    value = cells.get(column) if column else None
    return Problem(number, column, value, f"{error['msg']} [{error['type']}]")


def format_problems(problems: Iterable[Problem]) -> str:
    return "\n".join(str(p) for p in problems)
