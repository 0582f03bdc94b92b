"""A tiny evaluator for rule tables written as data.

A published grading table is held as rows (:class:`Criterion`): a grade, the conditions that must all
hold, the paper's own wording and where it stands. The same rows are evaluated on one record
(:meth:`Criterion.holds`) and on a whole DataFrame (:meth:`Criterion.mask`), and rendered as review
sheets for clinicians (:mod:`grading.review_sheets`). A condition on a blank field never holds: a
blank is "not assessed", not normal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import pandas as pd
from numpy.typing import NDArray

Record: TypeAlias = Mapping[str, object]
BoolArray: TypeAlias = NDArray[np.bool_]
Evidence: TypeAlias = Literal["C", "S", "U", "policy"]


def is_blank(value: object) -> bool:
    """True for a value that was not recorded (None or NaN)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


@dataclass(frozen=True)
class Is:
    """The field holds one of ``values``."""

    field: str
    values: tuple[object, ...]

    def holds(self, record: Record) -> bool:
        value = record.get(self.field)
        return not is_blank(value) and value in self.values

    def mask(self, frame: pd.DataFrame) -> BoolArray:
        column = frame[self.field]
        if isinstance(column.dtype, pd.CategoricalDtype):  # compare small integer codes
            categories = list(column.cat.categories)
            codes = column.cat.codes.to_numpy()
            result = np.zeros(len(codes), dtype=bool)
            for value in self.values:
                if value in categories:
                    result |= codes == categories.index(value)
            return result
        return column.isin(self.values).to_numpy(dtype=bool)

    def describe(self) -> str:
        shown = ", ".join(_show(v) for v in self.values)
        return (
            f"`{self.field}` = {shown}"
            if len(self.values) == 1
            else f"`{self.field}` in {{{shown}}}"
        )


@dataclass(frozen=True)
class Between:
    """``low <= field <= high`` with the stated inclusivity; a bound of None is open."""

    field: str
    low: float | None
    high: float | None
    unit: str
    low_inclusive: bool = True
    high_inclusive: bool = True

    def holds(self, record: Record) -> bool:
        value = record.get(self.field)
        if is_blank(value) or not isinstance(value, int | float):
            return False
        return self._check(float(value))

    def _check(self, value: float) -> bool:
        if self.low is not None and (
            value < self.low or (value == self.low and not self.low_inclusive)
        ):
            return False
        return self.high is None or not (
            value > self.high or (value == self.high and not self.high_inclusive)
        )

    def mask(self, frame: pd.DataFrame) -> BoolArray:
        column = frame[self.field]
        if pd.api.types.is_float_dtype(column.dtype):
            values = column.to_numpy(dtype=float)
        else:
            values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
        ok: BoolArray = ~np.isnan(values)
        with np.errstate(invalid="ignore"):
            if self.low is not None:
                ok &= values >= self.low if self.low_inclusive else values > self.low
            if self.high is not None:
                ok &= values <= self.high if self.high_inclusive else values < self.high
        return ok

    def describe(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if self.low is not None and self.high is not None:
            left = "[" if self.low_inclusive else "("
            right = "]" if self.high_inclusive else ")"
            return f"`{self.field}` in {left}{_num(self.low)}, {_num(self.high)}{right}{unit}"
        if self.low is not None:
            return f"`{self.field}` {'≥' if self.low_inclusive else '>'} {_num(self.low)}{unit}"
        assert self.high is not None
        return f"`{self.field}` {'≤' if self.high_inclusive else '<'} {_num(self.high)}{unit}"


@dataclass(frozen=True)
class Blank:
    """The field was not recorded."""

    field: str

    def holds(self, record: Record) -> bool:
        return is_blank(record.get(self.field))

    def mask(self, frame: pd.DataFrame) -> BoolArray:
        return frame[self.field].isna().to_numpy(dtype=bool)

    def describe(self) -> str:
        return f"`{self.field}` not recorded"


Condition: TypeAlias = Is | Between | Blank


@dataclass(frozen=True)
class Criterion:
    """One row of a published table: grade ``grade`` in ``domain`` when every condition holds."""

    rule_id: str
    domain: str
    grade: int
    when: tuple[Condition, ...]
    source_text: str
    citation: str
    evidence: Evidence
    note: str = ""
    policy: str = ""  # set when the row applies only under a named policy choice

    def holds(self, record: Record) -> bool:
        return all(condition.holds(record) for condition in self.when)

    def mask(self, frame: pd.DataFrame) -> BoolArray:
        result = np.ones(len(frame), dtype=bool)
        for condition in self.when:
            result &= condition.mask(frame)
        return result

    def describe(self) -> str:
        return " and ".join(condition.describe() for condition in self.when)


@dataclass(frozen=True)
class Domain:
    """A column of the paper's table (for example "hypoxia"), and the fields it reads."""

    name: str
    title: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Instrument:
    """A published grading instrument at one version, held as rows."""

    key: str
    name: str
    version: str
    reference: str
    domains: tuple[Domain, ...]
    criteria: tuple[Criterion, ...]
    reviewed: str

    def rows(self, domain: str, policies: frozenset[str] = frozenset()) -> tuple[Criterion, ...]:
        """Rows of one domain; rows tied to a policy choice only when that choice is active."""
        return tuple(
            c
            for c in self.criteria
            if c.domain == domain and (not c.policy or c.policy in policies)
        )

    def rule(self, rule_id: str) -> Criterion:
        for criterion in self.criteria:
            if criterion.rule_id == rule_id:
                return criterion
        raise KeyError(rule_id)


@dataclass(frozen=True)
class DomainFinding:
    """The grade of one domain and the rows that gave it; ``grade`` None means not assessed."""

    domain: str
    grade: int | None
    hits: tuple[Criterion, ...]


def evaluate_domain(
    instrument: Instrument, domain: str, record: Record, policies: frozenset[str] = frozenset()
) -> DomainFinding:
    """Grade one domain of one record: the highest grade among the rows that hold."""
    fired = [c for c in instrument.rows(domain, policies) if c.holds(record)]
    if not fired:
        return DomainFinding(domain, None, ())
    top = max(c.grade for c in fired)
    # The first row of the top grade in table order, as evaluate_domain_frame picks it.
    return DomainFinding(domain, top, (next(c for c in fired if c.grade == top),))


def evaluate_domain_frame(
    instrument: Instrument,
    domain: str,
    frame: pd.DataFrame,
    policies: frozenset[str] = frozenset(),
) -> tuple[NDArray[np.int8], NDArray[np.int16]]:
    """Grade one domain for every row: (grade, index of the first top row in ``instrument.criteria``).

    Grade -1 and index -1 mean that no row holds (the domain was not assessed).
    """
    grade = np.full(len(frame), -1, dtype=np.int8)
    which = np.full(len(frame), -1, dtype=np.int16)
    for criterion in instrument.rows(domain, policies):
        index = instrument.criteria.index(criterion)
        hit = criterion.mask(frame) & (criterion.grade > grade)
        grade[hit] = criterion.grade
        which[hit] = index
    return grade, which


def require_columns(frame: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    """Raise ValueError naming the columns a cohort frame lacks."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{name} needs the columns {', '.join(missing)}")


def as_datetimes(column: pd.Series) -> pd.Series:
    """The column as datetimes, converted only when it is not already."""
    return column if pd.api.types.is_datetime64_any_dtype(column) else pd.to_datetime(column)


def _num(value: float) -> str:
    return str(value)  # as written in the table: 38.0 stays 38.0, 6 stays 6


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"`{value}`"
