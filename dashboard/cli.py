"""The ``cartwatch`` command line.

    cartwatch grade INPUT.csv [-o OUTPUT.csv] [--policy SOP.json]   grade a contract CSV ('-' = stdio)
    cartwatch docs [--check]                                        write or check docs/criteria/
    cartwatch policy                                                print the default policy as JSON

Exit status: 0 success, 2 bad input (every problem on standard error, nothing written), 1 stale docs.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import pandas as pd
from pydantic import ValidationError

from dashboard.csv_contract import ContractError, read_assessments
from grading import ASCO_2021, DISCLAIMER, Policy, grade_frame
from grading.review_sheets import sheets

DOCS_DIR = Path(__file__).resolve().parent.parent / "docs" / "criteria"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cartwatch", description=DISCLAIMER)
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser(
        "grade", help="grade a CSV of assessments (the interchange contract)"
    )
    grade.add_argument("input", help="CSV file, or - for standard input")
    grade.add_argument("-o", "--output", default="-", help="CSV file, or - for standard output")
    grade.add_argument("--policy", help="site policy JSON (default: ASCO 2021)")
    docs = commands.add_parser("docs", help="write the review sheets into docs/criteria/")
    docs.add_argument("--check", action="store_true", help="only check that they are up to date")
    docs.add_argument("--dir", type=Path, default=DOCS_DIR)
    commands.add_parser("policy", help="print the default escalation policy as JSON")
    args = parser.parse_args(argv)
    if args.command == "grade":
        return _grade(args.input, args.output, args.policy)
    if args.command == "docs":
        return _docs(args.dir, args.check)
    print(ASCO_2021.model_dump_json(indent=2))
    return 0


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 2


def _grade(source: str, target: str, policy_path: str | None) -> int:
    policy = ASCO_2021
    if policy_path:
        try:
            policy = Policy.model_validate_json(Path(policy_path).read_text(encoding="utf-8"))
        except (OSError, ValidationError) as error:
            return _fail(f"policy {policy_path}: {error}")
    try:
        if source == "-":
            contract = read_assessments(sys.stdin)
        else:
            with open(source, encoding="utf-8-sig", newline="") as stream:
                contract = read_assessments(stream)
    except OSError as error:
        return _fail(f"{source}: {error.strerror}")
    except ContractError as error:
        return _fail(f"{source}: {len(error.problems)} problem(s), nothing written\n{error}")
    graded = grade_frame(contract.typed, policy)
    text = _to_csv(contract.raw, graded)
    if target == "-":
        sys.stdout.write(text)
    else:
        Path(target).write_text(text, encoding="utf-8")
    return 0


def _to_csv(raw: pd.DataFrame, graded: pd.DataFrame) -> str:
    out = graded.copy()
    for column in ("tocilizumab_indicated", "steroids_indicated", "icu_indicated"):
        out[column] = out[column].map({True: "true", False: "false"})
    for column in ("crs_grade", "icans_grade"):
        out[column] = out[column].astype("string").fillna("")
    buffer = io.StringIO()
    pd.concat([raw.reset_index(drop=True), out], axis=1).to_csv(buffer, index=False)
    return buffer.getvalue()


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


if __name__ == "__main__":
    raise SystemExit(main())
