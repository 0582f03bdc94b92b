"""`cartwatch load-sample`, `import` and `audit verify` end to end on an SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.cli import main

COHORT = Path(__file__).resolve().parents[2] / "sample_data" / "cohort"


def test_load_sample_then_import_and_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'cw.db'}"
    assert main(["load-sample", "--url", url]) == 0
    out = capsys.readouterr().out
    assert "nurse-s01" in out
    assert "assessments: 4318 stored" in out
    assert main(["load-sample", "--url", url]) == 0  # idempotent
    assert "assessments: 0 stored, 4318 already there" in capsys.readouterr().out
    assert main(["audit", "verify", "--url", url]) == 0
    assert "audit chain intact" in capsys.readouterr().out
    # A scheduled refresh changes nothing when nothing changed: no duplicate, nothing resolved.
    assert main(["alerts", "refresh", "--url", url]) == 0
    first = capsys.readouterr().out
    assert main(["alerts", "refresh", "--url", url]) == 0
    assert capsys.readouterr().out == first
    assert "resolved" not in first

    bad = tmp_path / "bad.csv"
    lines = (COHORT / "assessments.csv").read_text().splitlines()[:3]
    header = lines[0].split(",")
    row = lines[1].split(",")
    row[header.index("temperature_c")] = "451"
    bad.write_text("\n".join([lines[0], ",".join(row)]) + "\n")
    monkeypatch.setenv("CARTWATCH_PASSWORD", "nurse-s01-demo")
    assert main(["import", "assessments", str(bad), "--user", "nurse-s01", "--url", url]) == 2
    err = capsys.readouterr().err
    assert "nothing stored" in err
    assert "column temperature_c, value '451'" in err

    monkeypatch.setenv("CARTWATCH_PASSWORD", "wrong-password")
    assert main(["import", "assessments", str(bad), "--user", "nurse-s01", "--url", url]) == 2
    assert "sign-in failed" in capsys.readouterr().err
