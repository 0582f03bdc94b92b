"""The shipped sample cohort fires every kind of finding at least once (issue #3, "Done when").

The cohort is read through the same CSV readers as `cartwatch`, so the files, the readers and the
monitoring rules are tested together.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dashboard.csv_contract import TABLES, read_table
from grading.monitor import KINDS, monitor_cohort
from grading.schedule import due_items

COHORT = Path(__file__).resolve().parents[1] / "sample_data" / "cohort"


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    read = {}
    for name in ("patients", "assessments", "labs", "drugs", "infections"):
        with open(COHORT / f"{name}.csv", encoding="utf-8", newline="") as stream:
            read[name] = read_table(stream, TABLES[name]).typed
    read["assessments"] = read["assessments"].drop(columns=["antipyretic_or_anticytokine_given"])
    return read


def findings(tables: dict[str, pd.DataFrame], at: pd.Timestamp) -> pd.DataFrame:
    return monitor_cohort(
        tables["patients"], tables["assessments"], tables["labs"], tables["drugs"],
        tables["infections"], at.to_pydatetime(),
    )  # fmt: skip


def test_every_kind_but_missed_assessments_fires_over_the_whole_course(
    tables: dict[str, pd.DataFrame],
) -> None:
    end = pd.Timestamp(tables["assessments"]["observed_at"].max())
    found = findings(tables, end)
    assert set(KINDS) - {"missed_assessment"} <= set(found["kind"])
    # Each finding names its rule and its evidence tag.
    assert found["rule_id"].astype(str).str.len().min() > 0
    assert set(found["evidence"]) <= {"C", "S", "U", "policy"}


def test_missed_assessments_fire_during_the_acute_phase(tables: dict[str, pd.DataFrame]) -> None:
    patients, assessments, labs = tables["patients"], tables["assessments"], tables["labs"]
    infusion = pd.to_datetime(patients["infusion_at"]).min()
    moments = [infusion + pd.Timedelta(hours=6 * k) for k in range(60)]
    overdue_at = next(
        moment
        for moment in moments
        if (
            due_items(patients, assessments[assessments["observed_at"] <= moment],
                      labs[labs["collected_at"] <= moment], moment)["status"] == "overdue"
        ).any()
    )  # fmt: skip
    found = findings(tables, overdue_at)
    missed = found[found["kind"] == "missed_assessment"]
    assert len(missed) >= 1
    assert missed["detail"].str.contains("overdue by").all()
