"""Registry Day-100 fields per patient: CRS and ICANS as the EBMT cellular-therapy and CIBMTR
forms ask for them (occurrence, onset, highest ASTCT grade, resolution, treatment), day 0-100.

**The field names are not the forms'.** Neither the EBMT MED-B / cellular therapy Day-100 form nor
the CIBMTR Cellular Therapy Essential Data follow-up form is in this repository, and
``/work/shared/clinical/criteria.md`` cites EBMT only for its position statement and management
recommendations (sections 6.7 and 12), never a registry field. So the columns have descriptive
names and this table maps them to the item each form is *understood* to ask; every item is
**[U]**: not confirmed from the form, to be checked by the registry data manager before a
submission.

| column of the EBMT file        | EBMT Day-100 item [U]                | column of the CIBMTR file [U]  |
|--------------------------------|--------------------------------------|--------------------------------|
| ``<s>_occurrence``             | CRS / ICANS occurred: yes, no, unkn. | ``cibmtr_<s>``                 |
| ``<s>_onset_day``, ``_date``   | date of onset                        | ``cibmtr_<s>_onset_*``         |
| ``<s>_max_grade_astct``        | highest grade (ASTCT 2019)           | ``cibmtr_<s>_max_grade``       |
| ``<s>_resolution_day``, ``_date`` | date of resolution                | ``cibmtr_<s>_resolved_*``      |
| ``<s>_ongoing_at_day100``      | ongoing at day 100                   | ``cibmtr_<s>_ongoing_at_day100`` |
| ``<s>_tocilizumab``            | treatment: tocilizumab               | ``cibmtr_<s>_therapy`` (list)  |
| ``<s>_corticosteroids``        | treatment: corticosteroids           | (same list)                    |
| ``<s>_other_anticytokine``     | treatment: other anti-cytokine       | (same list)                    |
| ``<s>_icu_admission``          | ICU admission (not recorded: unknown) | ``cibmtr_<s>_icu_admission``  |
| ``<s>_icu_indicated_policy``   | no item: the site-policy ICU flag    | (not in the CIBMTR file)       |

Other anti-cytokine = siltuximab or anakinra (the drugs of :class:`grading.records.Drug`).

``<s>`` is ``crs`` or ``icans``. Rules (day 0 = the calendar day of the CAR T infusion, as the
registries count it; the window is day 0 to day 100 inclusive):

- **Observed to day 100**: a record on day 100 or later, or a death recorded by day 100 (nothing
  can happen after it). **Every "no" below needs it; short of it the answer is "unknown"**:
  missing is not normal, and the unseen days could hold an onset, a dose or a death.
- **Occurrence**: "yes" when an episode (:mod:`grading.course`) has its onset in the window;
  "no" when the patient had at least one assessment in the window gradable for that syndrome
  (CRS or ICANS grade not blank), no onset in it, and was observed to day 100; **"unknown" when
  there is no such assessment or follow-up ends before day 100**. An episode with onset after
  day 100 is not counted.
- **Onset**: the first onset in the window. **Highest grade**: the highest ASTCT grade of the
  assessments in the window that lie inside an episode (an episode starting on day 99 counts only
  its grades up to day 100).
- **Resolution**: of the last episode with onset in the window; ``ongoing_at_day100`` is "yes"
  when it resolved after day 100 or never (with follow-up reaching day 100), "unknown" when it is
  unresolved at a last follow-up before day 100.
- **Treatment**: a drug of the log given in the window between the onset and the resolution of an
  episode of that syndrome (to the end of day 100 while unresolved). CRS and ICANS overlapping in
  time share their drugs: the log does not say which syndrome a dose was for. "no" means none
  recorded in cartwatch's drug log, with the patient observed to day 100 ("unknown" otherwise;
  the same for the policy ICU flag).
- **Death**: ``death_by_day100`` "yes" when a death is recorded by day 100, "no" when none is and
  the records reach day 100, "unknown" when they end before it.
- **Follow-up**: ``last_followup_day`` is the last day with any record (assessment, lab, drug,
  outcome event); ``day100_window_complete`` is "no" below day 100 (including a death before it).

Dates: with shifted dates each ``_day`` has a ``_date`` (ISO 8601 date, per-patient shift);
with study days there are no date columns. Tables are read with shifted times either way
(:func:`dashboard.exports.sdtm.calendar_chunks`) so that calendar days are exact.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from dashboard.exports.sdtm import calendar_chunks
from dashboard.exports.source import (
    DateMode,
    ExportRequest,
    Progress,
    export_key,
    export_manifest,
)
from dashboard.services.deidentify import manifest_comment
from dashboard.store.access import Actor
from grading.records import STEROIDS, Drug

FIRST_DAY = 0
LAST_DAY = 100
SYNDROMES = ("crs", "icans")

YES, NO, UNKNOWN, NOT_APPLICABLE = "yes", "no", "unknown", "not applicable"

TOCILIZUMAB = frozenset({Drug.TOCILIZUMAB.value})
CORTICOSTEROIDS = frozenset(d.value for d in STEROIDS)
OTHER_ANTICYTOKINE = frozenset({Drug.SILTUXIMAB.value, Drug.ANAKINRA.value})
#: Treatment columns and the drugs of the log that count for each.
TREATMENTS = {
    "tocilizumab": TOCILIZUMAB,
    "corticosteroids": CORTICOSTEROIDS,
    "other_anticytokine": OTHER_ANTICYTOKINE,
}

_PATIENT_COLUMNS = (
    "pseudonym", "site_id", "product", "infusion_date", "last_followup_day",
    "day100_window_complete", "death_by_day100",
)  # fmt: skip
_SYNDROME_COLUMNS = (
    "occurrence", "episodes", "onset_day", "onset_date", "max_grade_astct", "resolution_day",
    "resolution_date", "ongoing_at_day100", "tocilizumab", "corticosteroids",
    "other_anticytokine", "icu_admission", "icu_indicated_policy",
)  # fmt: skip


def ebmt_columns(dates: DateMode) -> tuple[str, ...]:
    """Columns of the EBMT file in this date mode (``_date`` columns only with shifted dates)."""
    names = [*_PATIENT_COLUMNS] + [f"{s}_{c}" for s in SYNDROMES for c in _SYNDROME_COLUMNS]
    return tuple(n for n in names if dates is DateMode.SHIFTED or not n.endswith("_date"))


def cibmtr_columns(dates: DateMode) -> tuple[str, ...]:
    """Columns of the CIBMTR file in this date mode."""
    names = [*_PATIENT_COLUMNS]
    for s in SYNDROMES:
        names += [
            f"cibmtr_{s}", f"cibmtr_{s}_onset_day", f"cibmtr_{s}_onset_date",
            f"cibmtr_{s}_max_grade", f"cibmtr_{s}_resolved_day", f"cibmtr_{s}_resolved_date",
            f"cibmtr_{s}_ongoing_at_day100", f"cibmtr_{s}_therapy", f"cibmtr_{s}_icu_admission",
        ]  # fmt: skip
    return tuple(n for n in names if dates is DateMode.SHIFTED or not n.endswith("_date"))


def _days(at: pd.Series, infusion: pd.Timestamp) -> pd.Series:
    """Calendar days since the infusion day (day 0)."""
    return (pd.to_datetime(at).dt.normalize() - infusion.normalize()).dt.days


def _date(at: object) -> str:
    """ISO 8601 date of a time, blank when missing."""
    stamp = pd.to_datetime(pd.Series([at])).iloc[0]
    return "" if pd.isna(stamp) else str(stamp.strftime("%Y-%m-%d"))


def _by_patient(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {str(k): g for k, g in frame.groupby("pseudonym", sort=False)} if len(frame) else {}


def _syndrome_fields(
    syndrome: str,
    infusion: pd.Timestamp,
    assessments: pd.DataFrame,
    episodes: pd.DataFrame,
    drugs: pd.DataFrame,
    last_followup_day: float,
    died_by_day100: bool = False,
) -> dict[str, object]:
    """One patient's Day-100 fields of one syndrome (keys of ``_SYNDROME_COLUMNS``).

    ``last_followup_day`` is NaN without any record. A "no" needs the patient observed to day 100
    (:func:`_observed_to_day100`); short of it, what was not seen is "unknown", not "no"."""
    observed_to_end = _observed_to_day100(last_followup_day, died_by_day100)
    grade = pd.to_numeric(assessments[f"{syndrome}_grade"], errors="coerce")
    a_day = _days(assessments["observed_at"], infusion)
    in_window = a_day.between(FIRST_DAY, LAST_DAY)
    assessed = bool((in_window & grade.notna()).any())
    mine = episodes[episodes["syndrome"].astype(str).str.lower() == syndrome]
    onset_day = _days(mine["onset_at"], infusion)
    window = mine[onset_day.between(FIRST_DAY, LAST_DAY)].sort_values("onset_at")
    blank: dict[str, object] = dict.fromkeys(_SYNDROME_COLUMNS, "")
    if window.empty:
        state = NO if assessed and observed_to_end else UNKNOWN
        filler = NOT_APPLICABLE if state == NO else UNKNOWN
        blank.update({"occurrence": state, "episodes": 0 if state == NO else ""})
        blank.update(dict.fromkeys((*TREATMENTS, "icu_admission", "icu_indicated_policy"), filler))
        blank["ongoing_at_day100"] = filler
        return blank

    end_of_window = infusion.normalize() + pd.Timedelta(days=LAST_DAY + 1)
    starts = pd.to_datetime(window["onset_at"])
    resolved = pd.to_datetime(window["resolved_at"]).fillna(end_of_window)
    stops = resolved.where(resolved <= end_of_window, end_of_window)
    observed = pd.to_datetime(assessments["observed_at"])
    in_episode = pd.Series(False, index=assessments.index)
    for start, stop in zip(starts, stops, strict=True):
        in_episode |= (observed >= start) & (observed < stop)
    highest = grade[in_window & in_episode].max()

    given = pd.to_datetime(drugs["given_at"])
    d_day = _days(drugs["given_at"], infusion)
    during = pd.Series(False, index=drugs.index)
    for start, stop in zip(starts, stops, strict=True):
        during |= (given >= start) & (given <= stop)
    during &= d_day.between(FIRST_DAY, LAST_DAY)
    drugs_given = set(drugs.loc[during, "drug"].astype(str))
    # The policy's ICU flag is nullable: NA (not evaluated) is neither yes nor no.
    icu = assessments.get("icu_indicated", pd.Series(pd.NA, index=assessments.index))
    icu_in_episode = pd.Series(icu, dtype="boolean")[in_window & in_episode]
    icu_state = (
        YES if bool(icu_in_episode.fillna(False).any())
        else UNKNOWN if bool(icu_in_episode.isna().any())
        else NO
    )  # fmt: skip

    last = window.iloc[-1]
    resolved_at = pd.to_datetime(last["resolved_at"])
    resolved_day = (
        None if pd.isna(resolved_at) else (resolved_at.normalize() - infusion.normalize()).days
    )
    if resolved_day is not None and resolved_day <= LAST_DAY:
        ongoing, resolution_day, resolution_date = NO, resolved_day, _date(resolved_at)
    elif resolved_day is not None or last_followup_day >= LAST_DAY:
        ongoing, resolution_day, resolution_date = YES, "", ""
    else:
        ongoing, resolution_day, resolution_date = UNKNOWN, "", ""
    # Follow-up that stopped short of day 100 (death aside) leaves days unseen: a drug or an ICU
    # flag in them (the episode going on, or a later one) would be missed, so "no" is "unknown".
    no = NO if observed_to_end else UNKNOWN
    first = window.iloc[0]
    fields: dict[str, object] = {
        "occurrence": YES,
        "episodes": len(window),
        "onset_day": int(_days(pd.Series([first["onset_at"]]), infusion).iloc[0]),
        "onset_date": _date(first["onset_at"]),
        "max_grade_astct": "" if pd.isna(highest) else int(highest),
        "resolution_day": resolution_day,
        "resolution_date": resolution_date,
        "ongoing_at_day100": ongoing,
        "icu_admission": UNKNOWN,
        "icu_indicated_policy": no if icu_state == NO else icu_state,
    }
    for column, names in TREATMENTS.items():
        fields[column] = YES if drugs_given & names else no
    return fields


def _observed_to_day100(last_followup_day: float, died_by_day100: bool) -> bool:
    """Whether the patient was followed through the window: a record on day 100 or later, or a
    death recorded by day 100 (nothing can happen after it). NaN (no record at all) is False."""
    return died_by_day100 or bool(last_followup_day >= LAST_DAY)


def day100_fields(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per patient of one chunk, the Day-100 fields under the EBMT file's column names (both the
    ``_day`` and the ``_date`` columns; the writers drop the dates in study-day mode).

    ``tables``: the source's tables read with shifted times (:func:`calendar_chunks`).
    """
    patients = tables["patients"]
    groups = {name: _by_patient(tables[name]) for name in ("assessments", "episodes", "labs",
                                                             "drugs", "events")}  # fmt: skip
    rows = []
    for _, patient in patients.iterrows():
        pid = str(patient["pseudonym"])
        infusion = pd.Timestamp(patient["infusion_at"])
        mine = {name: groups[name].get(pid, tables[name].iloc[0:0]) for name in groups}
        seen = [
            _days(mine[table][column], infusion)
            for table, column in (("assessments", "observed_at"), ("labs", "collected_at"),
                                  ("drugs", "given_at"), ("events", "occurred_at"))
        ]  # fmt: skip
        days = pd.concat(seen, ignore_index=True).dropna()
        last_day = float(days.max()) if len(days) else float("nan")
        events = mine["events"]
        deaths = _days(events.loc[events["event"].astype(str) == "death", "occurred_at"], infusion)
        died = bool((deaths <= LAST_DAY).any())
        # No death recorded is "no" only when the records reach day 100 (missing is not normal).
        death = YES if died else NO if last_day >= LAST_DAY else UNKNOWN
        row: dict[str, object] = {
            "pseudonym": pid,
            "site_id": patient["site_id"],
            "product": patient["product"],
            "infusion_date": _date(patient["infusion_at"]),
            "last_followup_day": "" if pd.isna(last_day) else int(last_day),
            "day100_window_complete": YES if last_day >= LAST_DAY else NO,
            "death_by_day100": death,
        }
        for syndrome in SYNDROMES:
            fields = _syndrome_fields(
                syndrome, infusion, mine["assessments"], mine["episodes"], mine["drugs"],
                last_day, died,
            )  # fmt: skip
            row.update({f"{syndrome}_{k}": v for k, v in fields.items()})
        rows.append(row)
    return pd.DataFrame(rows, columns=list(ebmt_columns(DateMode.SHIFTED)))


def cibmtr_frame(fields: pd.DataFrame) -> pd.DataFrame:
    """The CIBMTR view of :func:`day100_fields` (same facts, CIBMTR-style columns; [U])."""
    out = pd.DataFrame({c: fields[c] for c in _PATIENT_COLUMNS})
    for s in SYNDROMES:
        out[f"cibmtr_{s}"] = fields[f"{s}_occurrence"]
        out[f"cibmtr_{s}_onset_day"] = fields[f"{s}_onset_day"]
        out[f"cibmtr_{s}_onset_date"] = fields[f"{s}_onset_date"]
        out[f"cibmtr_{s}_max_grade"] = fields[f"{s}_max_grade_astct"]
        out[f"cibmtr_{s}_resolved_day"] = fields[f"{s}_resolution_day"]
        out[f"cibmtr_{s}_resolved_date"] = fields[f"{s}_resolution_date"]
        out[f"cibmtr_{s}_ongoing_at_day100"] = fields[f"{s}_ongoing_at_day100"]
        out[f"cibmtr_{s}_therapy"] = [_therapy(r, s) for _, r in fields.iterrows()]
        out[f"cibmtr_{s}_icu_admission"] = fields[f"{s}_icu_admission"]
    return out


def _therapy(row: pd.Series, syndrome: str) -> str:
    """CIBMTR-style therapy list: "tocilizumab; corticosteroids", "none recorded", the state, or
    "tocilizumab (others unknown)" when follow-up ended short of day 100."""
    occurrence = row[f"{syndrome}_occurrence"]
    if occurrence != YES:
        return NOT_APPLICABLE if occurrence == NO else UNKNOWN
    given = [name.replace("_", " ").replace("anticytokine", "anti-cytokine")
             for name in TREATMENTS if row[f"{syndrome}_{name}"] == YES]  # fmt: skip
    unknown = any(row[f"{syndrome}_{name}"] == UNKNOWN for name in TREATMENTS)
    if unknown:  # follow-up ended short of day 100
        return f"{'; '.join(given)} (others unknown)" if given else UNKNOWN
    return "; ".join(given) or "none recorded"


def registry_chunks(
    engine: Engine, actor: Actor, request: ExportRequest, progress: Progress | None = None
) -> Iterator[pd.DataFrame]:
    """:func:`day100_fields` chunk by chunk."""
    for tables in calendar_chunks(engine, actor, request, progress):
        yield day100_fields(tables)


def write_registry(
    engine: Engine,
    actor: Actor,
    request: ExportRequest,
    out_dir: Path,
    progress: Progress | None = None,
) -> list[Path]:
    """Write ``registry_ebmt_day100.csv``, ``registry_cibmtr_day100.csv`` (each headed by the
    de-identification manifest as ``#`` lines) and ``manifest.json`` into ``out_dir``."""
    entries = export_manifest(export_key(engine, actor, request), request)  # refuses before writing
    out_dir.mkdir(parents=True, exist_ok=True)
    entries["registry fields"] = (
        "EBMT and CIBMTR Day-100 CRS/ICANS items under descriptive names, NOT the forms' field "
        "names [U]; window day 0-100 (day 0 = infusion day); see docs/exports.md"
    )
    header = manifest_comment(entries)
    ebmt_path = out_dir / "registry_ebmt_day100.csv"
    cibmtr_path = out_dir / "registry_cibmtr_day100.csv"
    ebmt_cols = list(ebmt_columns(request.dates))
    cibmtr_cols = list(cibmtr_columns(request.dates))
    with (
        ebmt_path.open("w", encoding="utf-8", newline="") as ebmt,
        cibmtr_path.open("w", encoding="utf-8", newline="") as cibmtr,
    ):
        for handle, names in ((ebmt, ebmt_cols), (cibmtr, cibmtr_cols)):
            handle.write(header)
            pd.DataFrame(columns=names).to_csv(handle, index=False)
        for fields in registry_chunks(engine, actor, request, progress):
            fields[ebmt_cols].to_csv(ebmt, index=False, header=False)
            cibmtr_frame(fields)[cibmtr_cols].to_csv(cibmtr, index=False, header=False)
    manifest_path = out_dir / "manifest.json"
    manifest_path.write_text(json.dumps(entries, indent=2) + "\n", encoding="utf-8")
    return [ebmt_path, cibmtr_path, manifest_path]
