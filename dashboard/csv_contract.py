"""Read the CSV interchange contract (README, "Data dictionary") into validated assessments.

The whole file is validated before anything is graded: every problem is reported with its row (the
spreadsheet row, header = row 1), column, value and what is allowed. An unknown column is an error,
so a misspelt header can never silently drop a finding.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

import pandas as pd
from pydantic import ValidationError

from grading import Assessment
from grading.assessment import ERROR_FIELD
from grading.frame import EXTRA_COLUMNS, INPUT_COLUMNS

COLUMNS = (*INPUT_COLUMNS, *EXTRA_COLUMNS)
REQUIRED = ("patient_id", "observed_at")
BOOLEANS = ("antipyretic_or_anticytokine_given", "developmental_delay")
NUMBERS = {
    "age_years": float,
    "temperature_c": float,
    "oxygen_l_min": float,
    "ice_score": int,
    "capd_score": int,
    "heart_rate_bpm": float,
    "systolic_bp_mmhg": float,
    "diastolic_bp_mmhg": float,
    "spo2_pct": float,
    "respiratory_rate_min": float,
}


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
    """The file as read (text cells, header order) and the validated, typed assessments."""

    raw: pd.DataFrame
    typed: pd.DataFrame


def read_assessments(stream: IO[str]) -> ContractFile:
    """Read and validate a whole contract CSV; raise :class:`ContractError` listing every problem."""
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None:
        raise ContractError(
            [Problem(None, None, None, "the file is empty: a header row is needed")]
        )
    header = [name.strip() for name in header]
    problems = _header_problems(header)
    if problems:
        raise ContractError(problems)
    rows = [row for row in reader if any(cell.strip() for cell in row)]
    records = []
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            problems.append(
                Problem(
                    number,
                    None,
                    None,
                    f"{len(row)} cells, but the header has {len(header)} columns",
                )
            )
            continue
        record, row_problems = _convert(number, dict(zip(header, row, strict=True)))
        problems += row_problems
        if not row_problems:
            problems += _validate(number, record, dict(zip(header, row, strict=True)))
        records.append(record)
    if problems:
        raise ContractError(problems)
    raw = pd.DataFrame(rows, columns=header, dtype=object)
    typed = pd.DataFrame.from_records(records, columns=list(COLUMNS))
    return ContractFile(raw=raw, typed=typed)


def _header_problems(header: list[str]) -> list[Problem]:
    problems = []
    allowed = ", ".join(COLUMNS)
    for name in header:
        if name not in COLUMNS:
            problems.append(Problem(1, name, None, f"unknown column (allowed: {allowed})"))
    for name in {n for n in header if header.count(n) > 1}:
        problems.append(Problem(1, name, None, "column appears more than once"))
    for name in REQUIRED:
        if name not in header:
            problems.append(Problem(1, name, None, "required column is missing"))
    return problems


def _convert(number: int, cells: dict[str, str]) -> tuple[dict[str, object], list[Problem]]:
    record: dict[str, object] = dict.fromkeys(COLUMNS)
    problems = []
    for name, cell in cells.items():
        text = cell.strip()
        if text == "":
            continue  # blank means not recorded, never normal
        if name in BOOLEANS:
            if text not in ("true", "false"):
                problems.append(Problem(number, name, cell, "must be true or false (or blank)"))
                continue
            record[name] = text == "true"
        elif name in NUMBERS:
            kind = NUMBERS[name]
            try:
                number_value = float(text)
            except ValueError:
                problems.append(Problem(number, name, cell, f"must be a number{_kind(kind)}"))
                continue
            if kind is int and not number_value.is_integer():
                problems.append(Problem(number, name, cell, "must be a whole number"))
                continue
            record[name] = int(number_value) if kind is int else number_value
        else:
            record[name] = text
    return record, problems


def _kind(kind: type) -> str:
    return " (a whole number)" if kind is int else ""


def _validate(number: int, record: dict[str, object], cells: dict[str, str]) -> list[Problem]:
    try:
        Assessment.model_validate(record)
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
