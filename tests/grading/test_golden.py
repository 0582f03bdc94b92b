"""Golden cases a clinician can read: the CSV files in tests/grading/golden/.

One row is one case: the inputs in the interchange-contract columns (blank = not recorded), the
grade, status and flags expected by criteria.md, the rows of the published table that must fire,
what must be reported as not assessed, and the source. The expectations were written by hand from
criteria.md, never copied from the code's output.

Every row is graded twice: one by one with ``grade_assessment`` (the readable reference) and, one
DataFrame per file, with the vectorised ``grade_frame``, so the golden set holds both graders to the
same values.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from grading import Assessment, GradeResult, grade_assessment, grade_frame

GOLDEN = Path(__file__).parent / "golden"
CRS_FILE = "crs_astct_2019.csv"
ICANS_FILE = "icans_astct_2019.csv"
ESCALATION_FILE = "escalation_asco_2021.csv"
OBSERVED_AT = datetime(2026, 3, 2, 8, 0)

#: Contract columns (and documented extensions) a case may fill; anything else is not an input.
INPUT_COLUMNS = (
    "age_years",
    "developmental_delay",
    "temperature_c",
    "antipyretic_or_anticytokine_given",
    "hypotension",
    "oxygen_device",
    "oxygen_l_min",
    "ice_score",
    "capd_score",
    "consciousness",
    "seizure",
    "motor_weakness",
    "cerebral_edema",
    "death_attributed_to",
)
#: Facts from the course of the episode rather than one assessment, passed as keywords.
COURSE_COLUMNS = ("crs_grade_1_hours",)
TEXT_COLUMNS = ("case", "source", "note")

FLOATS = {"age_years", "temperature_c", "oxygen_l_min", "crs_grade_1_hours"}
INTEGERS = {
    "ice_score",
    "capd_score",
    "expected_crs_grade",
    "expected_crs_minimum",
    "expected_icans_grade",
    "expected_icans_minimum",
}
BOOLEANS = {
    "developmental_delay",
    "antipyretic_or_anticytokine_given",
    "expected_tocilizumab",
    "expected_steroids",
    "expected_icu",
}
LISTS = {"expected_rules", "expected_missing", "expected_flags"}
EXPECTED_COLUMNS = {
    "expected_crs_grade",
    "expected_crs_status",
    "expected_crs_minimum",
    "expected_icans_grade",
    "expected_icans_status",
    "expected_icans_minimum",
    "expected_rules",
    "expected_missing",
    "expected_tocilizumab",
    "expected_steroids",
    "expected_icu",
    "expected_flags",
}
KNOWN_COLUMNS = {*INPUT_COLUMNS, *COURSE_COLUMNS, *TEXT_COLUMNS, *EXPECTED_COLUMNS}

#: Cases where the code disagrees with criteria.md: (grader, file, case) -> reason. Kept as strict
#: xfails so that the day the code is fixed, the test says so.
KNOWN_DISAGREEMENTS: dict[tuple[str, str, str], str] = {}


@dataclass(frozen=True)
class Golden:
    """One parsed row of a golden file."""

    file: str
    line: int
    case: str
    inputs: dict[str, Any]
    course: dict[str, Any]
    expected: dict[str, Any]
    source: str

    def expect(self, column: str) -> Any:
        return self.expected.get(column)


def parse(column: str, text: str) -> Any:
    """A CSV cell as a value: blank is None (not recorded), 'true'/'false' are booleans."""
    text = text.strip()
    if column in LISTS:
        return tuple(item.strip() for item in text.split(";") if item.strip())
    if text == "":
        return None
    if column in BOOLEANS:
        if text not in ("true", "false"):
            raise ValueError(f"{column}: expected true or false, got {text!r}")
        return text == "true"
    if column in FLOATS:
        return float(text)
    if column in INTEGERS:
        return int(text)
    return text


@cache
def load(name: str) -> tuple[Golden, ...]:
    with (GOLDEN / name).open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        unknown = set(reader.fieldnames or ()) - KNOWN_COLUMNS
        if unknown:
            raise ValueError(f"{name}: unknown columns {sorted(unknown)}")
        rows = []
        for line, raw in enumerate(reader, start=2):
            values = {column: parse(column, text or "") for column, text in raw.items()}
            rows.append(
                Golden(
                    file=name,
                    line=line,
                    case=values["case"],
                    inputs={c: values[c] for c in INPUT_COLUMNS if c in values},
                    course={c: values[c] for c in COURSE_COLUMNS if c in values},
                    expected={c: v for c, v in values.items() if c in EXPECTED_COLUMNS},
                    source=values["source"] or "",
                )
            )
    return tuple(rows)


def cases(name: str, grader: str) -> list[Any]:
    """The rows of one file as pytest parameters, named by the case sentence."""
    params = []
    for golden in load(name):
        reason = KNOWN_DISAGREEMENTS.get((grader, name, golden.case))
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        params.append(pytest.param(golden, id=golden.case, marks=marks))
    return params


def assessment_of(golden: Golden) -> Assessment:
    recorded = {field: value for field, value in golden.inputs.items() if value is not None}
    return Assessment(patient_id=f"golden-{golden.line}", observed_at=OBSERVED_AT, **recorded)


def observed(
    result: GradeResult, golden: Golden, toxicity: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(got, want) for one toxicity: grade, status, 'at least' grade, rows fired, not assessed."""
    expected_rules = set(golden.expect("expected_rules"))
    fired = {hit.rule_id for hit in result.hits}
    got: dict[str, Any] = {
        "grade": result.grade,
        "status": result.status.value,
        "expected rules that did not fire": sorted(expected_rules - fired),
        "not assessed": sorted(result.missing),
    }
    want: dict[str, Any] = {
        "grade": golden.expect(f"expected_{toxicity}_grade"),
        "status": golden.expect(f"expected_{toxicity}_status"),
        "expected rules that did not fire": [],
        "not assessed": sorted(golden.expect("expected_missing")),
    }
    minimum = golden.expect(f"expected_{toxicity}_minimum")
    if minimum is not None:
        got["at least"], want["at least"] = result.minimum_grade, minimum
    return got, want


@pytest.mark.parametrize("golden", cases(CRS_FILE, "scalar"))
def test_crs_golden_case(golden: Golden) -> None:
    result = grade_assessment(assessment_of(golden)).crs
    got, want = observed(result, golden, "crs")
    assert got == want, f"{golden.source}\n{result.reason}"


@pytest.mark.parametrize("golden", cases(ICANS_FILE, "scalar"))
def test_icans_golden_case(golden: Golden) -> None:
    result = grade_assessment(assessment_of(golden)).icans
    got, want = observed(result, golden, "icans")
    assert got == want, f"{golden.source}\n{result.reason}"


@pytest.mark.parametrize("golden", cases(ESCALATION_FILE, "scalar"))
def test_escalation_golden_case(golden: Golden) -> None:
    result = grade_assessment(assessment_of(golden), **golden.course)
    got = {
        "crs grade": result.crs.grade,
        "crs status": result.crs.status.value,
        "icans grade": result.icans.grade,
        "icans status": result.icans.status.value,
        "tocilizumab indicated": result.indicated("tocilizumab"),
        "steroids indicated": result.indicated("corticosteroids"),
        "icu indicated": result.indicated("icu"),
        "flags": sorted(flag.rule_id for flag in result.flags),
    }
    want = {
        "crs grade": golden.expect("expected_crs_grade"),
        "crs status": golden.expect("expected_crs_status"),
        "icans grade": golden.expect("expected_icans_grade"),
        "icans status": golden.expect("expected_icans_status"),
        "tocilizumab indicated": golden.expect("expected_tocilizumab"),
        "steroids indicated": golden.expect("expected_steroids"),
        "icu indicated": golden.expect("expected_icu"),
        "flags": sorted(golden.expect("expected_flags")),
    }
    assert got == want, f"{golden.source}\n{result.crs.reason}\n{result.icans.reason}"


@cache
def graded_frame(name: str) -> pd.DataFrame:
    """Every row of one golden file graded in a single vectorised pass."""
    rows = load(name)
    frame = pd.DataFrame(
        [
            {"patient_id": f"golden-{golden.line}", "observed_at": OBSERVED_AT, **golden.inputs}
            for golden in rows
        ]
    )
    return grade_frame(frame)


def frame_row(golden: Golden) -> dict[str, Any]:
    position = load(golden.file).index(golden)
    row = graded_frame(golden.file).iloc[position]
    return {
        str(column): (None if pd.isna(value) else value)
        for column, value in row.items()
        if column not in ("crs_reason", "icans_reason", "missing")
    }


@pytest.mark.parametrize("golden", cases(CRS_FILE, "frame"))
def test_crs_golden_case_vectorised(golden: Golden) -> None:
    row = frame_row(golden)
    got = {"grade": row["crs_grade"], "status": row["crs_status"]}
    want = {
        "grade": golden.expect("expected_crs_grade"),
        "status": golden.expect("expected_crs_status"),
    }
    assert got == want, golden.source


@pytest.mark.parametrize("golden", cases(ICANS_FILE, "frame"))
def test_icans_golden_case_vectorised(golden: Golden) -> None:
    row = frame_row(golden)
    got = {"grade": row["icans_grade"], "status": row["icans_status"]}
    want = {
        "grade": golden.expect("expected_icans_grade"),
        "status": golden.expect("expected_icans_status"),
    }
    assert got == want, golden.source


@pytest.mark.parametrize("golden", cases(ESCALATION_FILE, "frame"))
def test_escalation_golden_case_vectorised(golden: Golden) -> None:
    row = frame_row(golden)
    got = {
        "crs grade": row["crs_grade"],
        "crs status": row["crs_status"],
        "icans grade": row["icans_grade"],
        "icans status": row["icans_status"],
        "tocilizumab indicated": bool(row["tocilizumab_indicated"]),
        "steroids indicated": bool(row["steroids_indicated"]),
        "icu indicated": bool(row["icu_indicated"]),
    }
    want = {
        "crs grade": golden.expect("expected_crs_grade"),
        "crs status": golden.expect("expected_crs_status"),
        "icans grade": golden.expect("expected_icans_grade"),
        "icans status": golden.expect("expected_icans_status"),
        "tocilizumab indicated": golden.expect("expected_tocilizumab"),
        "steroids indicated": golden.expect("expected_steroids"),
        "icu indicated": golden.expect("expected_icu"),
    }
    assert got == want, golden.source


@pytest.mark.parametrize("name", [CRS_FILE, ICANS_FILE, ESCALATION_FILE])
def test_golden_file_is_well_formed(name: str) -> None:
    """Each case is named once, cites a source, and its expected grade agrees with its status."""
    rows = load(name)
    names = [golden.case for golden in rows]
    assert len(names) == len(set(names)), "case sentences must be unique (they are the test ids)"
    for golden in rows:
        assert golden.case, f"line {golden.line}: a case needs a sentence"
        assert golden.source, f"line {golden.line}: {golden.case!r} needs a source"
        for toxicity in ("crs", "icans"):
            status = golden.expect(f"expected_{toxicity}_status")
            grade = golden.expect(f"expected_{toxicity}_grade")
            minimum = golden.expect(f"expected_{toxicity}_minimum")
            where = f"line {golden.line} ({toxicity}): {golden.case!r}"
            if status == "not_gradable":
                assert grade is None, f"{where}: not gradable has no grade"
                if f"expected_{toxicity}_minimum" in golden.expected:
                    assert minimum is not None, f"{where}: give the 'at least' grade"
            elif status == "no_toxicity":
                assert grade == 0, f"{where}: no toxicity is grade 0"
            elif status == "graded":
                assert grade is not None, f"{where}: graded needs a grade"
                assert grade >= 1, f"{where}: graded means grade 1-5"
            else:
                assert status is None, f"{where}: unknown status {status!r}"
