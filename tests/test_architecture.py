"""Imports flow one way (dashboard -> grading); only page files import Streamlit."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_grading_is_pure() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            imported_modules(path) & {"streamlit", "sqlalchemy", "dashboard", "plotly", "requests"}
        )
        for path in (ROOT / "grading").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_pages_and_the_entrypoint_import_streamlit() -> None:
    allowed = {ROOT / "dashboard" / "app.py", *(ROOT / "dashboard" / "app_pages").rglob("*.py")}
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "dashboard").rglob("*.py")
        if path not in allowed and "streamlit" in imported_modules(path)
    ]
    assert offenders == []
