"""A patient's course over time: fever masking from the drug log, CRS and ICANS episodes, per-day
maximum grades, exposure per episode and escalation flags that need the course.

Vectorised over the whole cohort: rows are sorted by (patient, time) once, and every step works on
arrays. The only Python loop is over episode numbers (a patient rarely has more than a few).

Rules (criteria.md R-CRS-2 and section 6; episode resolution is policy, see course_policy.py):
- A CRS episode begins at the first assessment graded CRS >= 1 *without* masking, i.e. with a
  documented fever (R-CRS-2: "patients who have CRS then receive ..."). It resolves per
  :class:`grading.course_policy.EpisodePolicy`.
- Inside a CRS episode, once an antipyretic or anti-cytokine drug has been given at or after the
  onset, fever is no longer required (``antipyretic_or_anticytokine_given`` = true) until the
  episode ends. Outside an episode the drug log never masks anything.
- An ICANS episode begins at the first ICANS grade >= 1 and resolves when every domain has been
  normal for the policy period.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from grading.course_policy import CoursePolicy
from grading.frame import grade_frame
from grading.policy import Policy
from grading.policy_asco_2021 import ASCO_2021
from grading.records import ANTIPYRETIC_OR_ANTICYTOKINE, Drug

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
MASKING = "antipyretic_or_anticytokine_given"
SECONDS_PER_DAY = 86_400
EPISODE_COLUMNS = (
    "patient_id", "syndrome", "episode", "onset_at", "onset_study_day", "peak_grade", "peak_at",
    "resolved_at", "status", "duration_days", "tocilizumab_doses", "steroid_dexamethasone_mg",
    "steroid_doses_not_counted",
)  # fmt: skip


@dataclass(frozen=True)
class Course:
    """The graded course: one row per assessment, one per episode, one per patient-day."""

    assessments: pd.DataFrame  # input columns + grades + course columns, in (patient, time) order
    episodes: pd.DataFrame
    daily: pd.DataFrame


@dataclass(frozen=True)
class _Timeline:
    """Sorted positions, patient codes and times in whole seconds from the earliest event."""

    patient: IntArray
    seconds: IntArray
    block_end: IntArray  # per row: the end (exclusive) of its patient's block
    ids: pd.Index  # patient id per code


def _timeline(frame: pd.DataFrame, at: str, ids: pd.Index | None = None) -> _Timeline:
    codes, uniques = pd.factorize(frame["patient_id"], sort=True)
    if ids is None:
        ids = pd.Index(uniques)
    seconds = pd.to_datetime(frame[at]).to_numpy(dtype="datetime64[s]").astype(np.int64)
    counts = np.bincount(codes, minlength=len(ids))
    ends = np.cumsum(counts)
    return _Timeline(codes.astype(np.int64), seconds, ends[codes], ids)


def _key(patient: IntArray, seconds: IntArray) -> IntArray:
    """(patient, time) folded into one sortable integer (times span far less than 2**40 s)."""
    return (patient << 40) + seconds


def _drug_keys(
    drugs: pd.DataFrame | None, ids: pd.Index, wanted: frozenset[Drug], origin: int
) -> tuple[IntArray, pd.DataFrame]:
    """Sorted (patient, time) keys of the doses of ``wanted`` drugs of known patients."""
    if drugs is None or drugs.empty:
        return np.zeros(0, dtype=np.int64), pd.DataFrame()
    chosen = drugs[drugs["drug"].astype(str).isin([d.value for d in wanted])]
    codes = pd.Categorical(chosen["patient_id"], categories=ids).codes.astype(np.int64)
    chosen = chosen[codes >= 0]
    codes = codes[codes >= 0]
    seconds = pd.to_datetime(chosen["given_at"]).to_numpy(dtype="datetime64[s]").astype(np.int64)
    keys = _key(codes, seconds - origin)
    order = np.argsort(keys, kind="stable")
    return keys[order], chosen.iloc[order].reset_index(drop=True)


def _episodes(
    line: _Timeline, onset: BoolArray, finding: BoolArray, clean: BoolArray, course: CoursePolicy
) -> tuple[IntArray, IntArray, IntArray]:
    """Episodes as (patient, onset position, resolution position or -1 while ongoing)."""
    n = len(onset)
    positions = np.arange(n)
    starts_block = np.ones(n, dtype=bool)
    starts_block[1:] = line.patient[1:] != line.patient[:-1]
    # A group begins at every finding (and at each patient's first row); its finding-free rows
    # may resolve an episode begun before it.
    group = np.cumsum(finding | starts_block)
    clean_pos = positions[clean]
    first_resolving: list[int] = []
    if len(clean_pos):
        groups, first, counts = np.unique(group[clean_pos], return_index=True, return_counts=True)
        del groups
        last = first + counts - 1
        span = line.seconds[clean_pos[last]] - line.seconds[clean_pos[first]]
        enough = (span >= course.episodes.resolution_hours * 3600) & (
            counts >= course.episodes.resolution_min_assessments
        )
        first_resolving = clean_pos[first[enough]].tolist()
    resolving = np.asarray(first_resolving, dtype=np.int64)
    onsets = positions[onset]
    block_start = np.r_[0, np.flatnonzero(starts_block[1:]) + 1] if n else np.zeros(0, np.int64)
    empty = np.zeros(0, dtype=np.int64)
    if len(onsets) == 0:
        return empty, empty, empty
    resolving = np.r_[resolving, np.iinfo(np.int64).max]  # a sentinel: "never resolves"
    patients, onset_at, resolved_at = [], [], []
    search = block_start.astype(np.int64)
    ends = line.block_end[block_start] if n else np.zeros(0, np.int64)
    live = np.ones(len(search), dtype=bool)
    while live.any():
        index = np.searchsorted(onsets, search)
        found = live & (index < len(onsets))
        begin = np.where(found, onsets[np.minimum(index, len(onsets) - 1)], ends)
        found &= begin < ends
        if not found.any():
            break
        end = resolving[np.searchsorted(resolving, begin, side="right")]
        has_end = found & (end < ends)
        end = np.where(has_end, end, -1)
        patients.append(line.patient[begin[found]])
        onset_at.append(begin[found])
        resolved_at.append(end[found])
        live = found & has_end
        search = np.where(live, end, search)
    if not patients:
        return empty, empty, empty
    order = np.lexsort((np.concatenate(onset_at), np.concatenate(patients)))
    return (
        np.concatenate(patients)[order],
        np.concatenate(onset_at)[order],
        np.concatenate(resolved_at)[order],
    )


def _episode_of_row(n: int, onset: IntArray, end: IntArray) -> IntArray:
    """Per row, the index of the episode it lies in (onset <= row < end), or -1."""
    marks = np.full(n, -1, dtype=np.int64)
    marks[onset] = np.arange(len(onset))
    running = pd.Series(marks).replace(-1, np.nan).ffill().to_numpy()
    episode = np.where(np.isnan(running), -1, running).astype(np.int64)
    inside = episode >= 0
    inside[inside] = np.arange(n)[inside] < end[episode[inside]]
    return np.where(inside, episode, -1)


def _last_before(keys: IntArray, query: IntArray, patient: IntArray) -> IntArray:
    """Per query, the time (seconds) of the last key at or before it for the same patient, or -1."""
    if len(keys) == 0:
        return np.full(len(query), -1, dtype=np.int64)
    index = np.searchsorted(keys, query, side="right") - 1
    ok = index >= 0
    found = np.where(ok, keys[np.maximum(index, 0)], -1)
    ok &= (found >> 40) == patient
    return np.where(ok, found & ((1 << 40) - 1), -1)


def _onset_seconds(line: _Timeline, begin: IntArray, episode: IntArray) -> IntArray:
    """Per row, the onset time of its episode (0 outside an episode)."""
    if len(begin) == 0:
        return np.zeros(len(episode), dtype=np.int64)
    return np.where(episode >= 0, line.seconds[begin[np.maximum(episode, 0)]], 0)


def _count_between(keys: IntArray, low: IntArray, high: IntArray) -> IntArray:
    """How many keys lie in [low, high)."""
    counts: IntArray = np.searchsorted(keys, high, side="left") - np.searchsorted(
        keys, low, side="left"
    )
    return counts


def derive_masking(
    assessments: pd.DataFrame,
    drugs: pd.DataFrame | None,
    policy: Policy = ASCO_2021,
    course: CoursePolicy | None = None,
) -> pd.Series:
    """``antipyretic_or_anticytokine_given`` per assessment, derived from the drug log (R-CRS-2).

    Aligned with ``assessments``' index.
    """
    return (
        grade_course(assessments, drugs, None, policy, course)
        .assessments.set_index("_row")[MASKING]
        .sort_index()
        .set_axis(assessments.index)
    )


def grade_course(
    assessments: pd.DataFrame,
    drugs: pd.DataFrame | None = None,
    patients: pd.DataFrame | None = None,
    policy: Policy = ASCO_2021,
    course: CoursePolicy | None = None,
) -> Course:
    """Grade a cohort's assessments over time.

    ``assessments``: contract columns (``antipyretic_or_anticytokine_given`` is derived from
    ``drugs`` when the column is absent or entirely blank). ``drugs``: patient_id, given_at,
    drug, dose, dose_unit. ``patients``: patient_id, infusion_at (for study days) and weight_kg.
    """
    course = course or CoursePolicy()
    frame = assessments.copy()
    frame["_row"] = np.arange(len(frame))
    frame = frame.sort_values(["patient_id", "observed_at", "_row"], kind="stable")
    frame = frame.reset_index(drop=True)
    frame["observed_at"] = pd.to_datetime(frame["observed_at"])
    line = _timeline(frame, "observed_at")
    origin = int(line.seconds.min()) - 10 * 365 * SECONDS_PER_DAY if len(frame) else 0
    line = _Timeline(line.patient, line.seconds - origin, line.block_end, line.ids)
    row_key = _key(line.patient, line.seconds)
    given = MASKING in frame and frame[MASKING].notna().any()

    # CRS episodes from findings that do not depend on masking: onset needs a documented fever.
    unmasked = frame.copy()
    unmasked[MASKING] = False
    raw = grade_frame(unmasked, policy, lower_bounds=True)
    crs_onset = raw["crs_at_least"].to_numpy() >= 1
    temperature = pd.to_numeric(frame["temperature_c"], errors="coerce")
    hypotension, device = frame["hypotension"], frame["oxygen_device"]
    crs_finding = (
        (temperature >= 38.0)
        | (hypotension.notna() & (hypotension != "none"))
        | (device.notna() & (device != "room_air"))
    ).to_numpy(dtype=bool)
    crs_clean = ((temperature < 38.0) & (hypotension == "none") & (device == "room_air")).to_numpy(
        dtype=bool
    )
    crs_patient, crs_begin, crs_end = _episodes(line, crs_onset, crs_finding, crs_clean, course)
    n = len(frame)
    crs_stop = np.where(crs_end >= 0, crs_end, line.block_end[crs_begin])
    crs_episode = _episode_of_row(n, crs_begin, crs_stop)

    masking_keys, _ = _drug_keys(drugs, line.ids, ANTIPYRETIC_OR_ANTICYTOKINE, origin)
    if not given:
        last_drug = _last_before(masking_keys, row_key, line.patient)
        in_crs = crs_episode >= 0
        onset_seconds = np.where(in_crs, _onset_seconds(line, crs_begin, crs_episode), 0)
        masked = in_crs & (last_drug >= 0) & (last_drug >= onset_seconds)
        frame[MASKING] = masked
        graded = _regrade_masked(frame, raw, masked, policy)
    else:
        graded = grade_frame(frame, policy, lower_bounds=True)
    if frame.columns.intersection(graded.columns).empty:
        frame = pd.concat([frame, graded], axis=1)  # one step instead of one insert per column
    else:
        for column in graded:
            frame[column] = graded[column].array

    icans = frame["icans_at_least"].to_numpy()
    icans_status = frame["icans_status"].astype(str).to_numpy()
    icans_patient, icans_begin, icans_end = _episodes(
        line, icans >= 1, icans >= 1, icans_status == "no_toxicity", course
    )
    icans_stop = np.where(icans_end >= 0, icans_end, line.block_end[icans_begin])
    icans_episode = _episode_of_row(n, icans_begin, icans_stop)
    frame["crs_episode"] = crs_episode
    frame["icans_episode"] = icans_episode

    infusion, weight = _patient_facts(patients, line.ids)
    day_origin = infusion[line.patient]
    frame["study_day"] = _study_days(frame["observed_at"], day_origin)
    _course_flags(frame, line, row_key, crs_begin, crs_episode, drugs, policy, origin)

    toci_keys, _ = _drug_keys(drugs, line.ids, frozenset({Drug.TOCILIZUMAB}), origin)
    steroid_keys, steroid_doses = _drug_keys(
        drugs, line.ids, frozenset(course.steroids.dexamethasone_mg_per_mg), origin
    )
    dex_mg, not_counted = _dexamethasone_mg(steroid_doses, weight, line.ids, course)
    tables = [
        _episode_table("CRS", frame, line, crs_patient, crs_begin, crs_end, crs_episode,
                       "crs_at_least", toci_keys, steroid_keys, dex_mg, not_counted),
        _episode_table("ICANS", frame, line, icans_patient, icans_begin, icans_end,
                       icans_episode, "icans_at_least", toci_keys, steroid_keys, dex_mg,
                       not_counted),
    ]  # fmt: skip
    found = [table for table in tables if not table.empty]
    if len(found) == 2:
        episodes = pd.concat(found, ignore_index=True)
    elif found:
        episodes = _beside_empty(found[0])
    else:
        episodes = tables[0]
    episodes = episodes.sort_values(["patient_id", "onset_at", "syndrome"], kind="stable")
    return Course(frame, episodes.reset_index(drop=True), _daily(frame))


def _regrade_masked(
    frame: pd.DataFrame, unmasked: pd.DataFrame, masked: BoolArray, policy: Policy
) -> pd.DataFrame:
    """The grades with the derived masking. When no row came out masked, ``frame`` is exactly the
    input that was already graded unmasked, so those grades are reused instead of grading the
    course a second time (the usual case for one patient's save); otherwise everything is graded
    again (the reason and missing-field columns are categoricals over the whole frame, so rows
    are not spliced)."""
    if not masked.any():
        return unmasked
    return grade_frame(frame, policy, lower_bounds=True)


def _beside_empty(table: pd.DataFrame) -> pd.DataFrame:
    """One syndrome's episodes, with exactly the dtypes they used to get from being concatenated
    with the other syndrome's empty, all-object table.

    That concatenation relied on pandas leaving empty or all-NA blocks out when it chose dtypes,
    which is deprecated (a FutureWarning, and other dtypes in pandas 3), so the same result is
    spelled out here. pandas concatenated run by run of adjacent columns sharing one block (one
    dtype): an integer or boolean run became object; a float or datetime run kept its dtype when
    it held at least one value and became an object column of NaN when it was all blank; so did
    an extension column (its own block); object stayed object.
    """
    result = table.copy()
    names = list(table.columns)
    start = 0
    while start < len(names):
        dtype = table.dtypes.iloc[start]
        stop = start + 1
        shared = not isinstance(dtype, pd.api.extensions.ExtensionDtype)  # 1-D blocks stand alone
        while shared and stop < len(names) and table.dtypes.iloc[stop] == dtype:
            stop += 1
        run = names[start:stop]
        nullable = not shared or dtype.kind in "fMm"  # an extension array holds NA too
        blank = nullable and not table[run].notna().to_numpy().any()
        if blank:  # pandas filled an all-blank run with its object NA, NaN
            for name in run:
                result[name] = pd.Series(np.full(len(table), np.nan, dtype=object), table.index)
        elif shared and dtype.kind in "iub":
            result[run] = table[run].astype(object)
        start = stop
    return result


def _patient_facts(
    patients: pd.DataFrame | None, ids: pd.Index
) -> tuple[NDArray[np.datetime64], NDArray[np.float64]]:
    infusion = np.full(len(ids), np.datetime64("NaT"), dtype="datetime64[s]")
    weight = np.full(len(ids), np.nan)
    if patients is not None and not patients.empty:
        known = patients.drop_duplicates("patient_id").set_index("patient_id").reindex(ids)
        infusion = pd.to_datetime(known["infusion_at"]).to_numpy(dtype="datetime64[s]")
        if "weight_kg" in known:
            weight = pd.to_numeric(known["weight_kg"], errors="coerce").to_numpy(dtype=float)
    return infusion, weight


def _study_days(observed: pd.Series, infusion: NDArray[np.datetime64]) -> pd.Series:
    """Calendar days since the infusion day (day 0); blank without an infusion date."""
    days = observed.to_numpy(dtype="datetime64[D]") - infusion.astype("datetime64[D]")
    values = days.astype("timedelta64[D]").astype("float64")
    values[np.isnat(days)] = np.nan
    return pd.Series(values, index=observed.index).astype("Int64")


def _course_flags(
    frame: pd.DataFrame,
    line: _Timeline,
    row_key: IntArray,
    crs_begin: IntArray,
    crs_episode: IntArray,
    drugs: pd.DataFrame | None,
    policy: Policy,
    origin: int,
) -> None:
    """Flags that need the course: 'consider tocilizumab' and the tocilizumab dose limits."""
    crs = frame["crs_at_least"].to_numpy()
    inside = crs_episode >= 0
    episode_peak = (
        pd.Series(np.where(inside, crs, 0)).groupby(np.where(inside, crs_episode, -1)).cummax()
    ).to_numpy()
    onset = _onset_seconds(line, crs_begin, crs_episode)
    hours = np.where(
        inside & (crs == 1) & (episode_peak <= 1), (line.seconds - onset) / 3600, np.nan
    )
    frame["crs_grade_1_hours"] = hours
    consider = np.zeros(len(frame), dtype=bool)
    for rule in policy.escalation:
        limit = rule.crs_grade_1_for_more_than_hours
        if rule.action == "tocilizumab" and rule.level == "consider" and limit is not None:
            with np.errstate(invalid="ignore"):
                consider |= hours > limit
    toci = frame["tocilizumab_indicated"].to_numpy(dtype=bool)
    keys, _ = _drug_keys(drugs, line.ids, frozenset({Drug.TOCILIZUMAB}), origin)
    dosing = policy.tocilizumab
    day_ago = _key(line.patient, line.seconds - SECONDS_PER_DAY)
    patient_start = _key(line.patient, np.zeros_like(line.seconds))
    in_24h = _count_between(keys, day_ago + 1, row_key + 1)
    total = _count_between(keys, patient_start, row_key + 1)
    limit_reached = (in_24h >= dosing.max_doses_per_24h) | (total >= dosing.max_doses_total)
    frame["tocilizumab_doses_24h"] = in_24h
    frame["tocilizumab_doses_total"] = total
    frame["tocilizumab_flag"] = np.select(
        [toci & limit_reached, toci, consider], ["limit_reached", "indicated", "consider"], ""
    )


def _dexamethasone_mg(
    doses: pd.DataFrame, weight: NDArray[np.float64], ids: pd.Index, course: CoursePolicy
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Dexamethasone-equivalent mg per steroid dose, and which doses could not be converted."""
    if doses.empty:
        return np.zeros(0), np.zeros(0, dtype=bool)
    factors = {drug.value: f for drug, f in course.steroids.dexamethasone_mg_per_mg.items()}
    factor = doses["drug"].astype(str).map(factors).to_numpy(dtype=float)
    dose = pd.to_numeric(doses["dose"], errors="coerce").to_numpy(dtype=float)
    unit = doses["dose_unit"].astype("string").str.strip().str.lower().fillna("").to_numpy(str)
    codes = pd.Categorical(doses["patient_id"], categories=ids).codes
    per_kg = np.where(codes >= 0, weight[np.maximum(codes, 0)], np.nan)
    mg = np.select(
        [unit == "mg", unit == "g", unit == "mg/kg"], [dose, dose * 1000, dose * per_kg], np.nan
    )
    mg = mg * factor
    return np.nan_to_num(mg), np.isnan(mg)


def _episode_table(
    syndrome: str,
    frame: pd.DataFrame,
    line: _Timeline,
    patient: IntArray,
    begin: IntArray,
    end: IntArray,
    episode_of_row: IntArray,
    grade_column: str,
    toci_keys: IntArray,
    steroid_keys: IntArray,
    dex_mg: NDArray[np.float64],
    not_counted: NDArray[np.bool_],
) -> pd.DataFrame:
    if len(begin) == 0:
        return pd.DataFrame(columns=list(EPISODE_COLUMNS))
    grades = frame[grade_column].to_numpy()
    inside = episode_of_row >= 0
    rows = np.flatnonzero(inside)
    by_episode = pd.DataFrame({"episode": episode_of_row[rows], "grade": grades[rows], "row": rows})
    # The first row at the episode's highest grade.
    top = by_episode.sort_values(["episode", "grade", "row"], ascending=[True, False, True])
    top = top.drop_duplicates("episode").set_index("episode").sort_index()
    observed = frame["observed_at"].to_numpy()
    start_key = _key(patient, line.seconds[begin])
    resolved = end >= 0
    stop_seconds = np.where(resolved, line.seconds[np.maximum(end, 0)], (1 << 40) - 1)
    stop_key = _key(patient, stop_seconds)
    steroid_start = np.searchsorted(steroid_keys, start_key)
    steroid_stop = np.searchsorted(steroid_keys, stop_key)
    cumulative = np.r_[0.0, np.cumsum(dex_mg)]
    missed = np.r_[0, np.cumsum(not_counted)]
    duration = np.where(
        resolved, (line.seconds[np.maximum(end, 0)] - line.seconds[begin]) / SECONDS_PER_DAY, np.nan
    )
    number = pd.Series(patient).groupby(patient).cumcount().to_numpy() + 1
    return pd.DataFrame(
        {
            "patient_id": line.ids[patient],
            "syndrome": syndrome,
            "episode": number,
            "onset_at": observed[begin],
            "onset_study_day": frame["study_day"].to_numpy()[begin],
            "peak_grade": top["grade"].to_numpy(),
            "peak_at": observed[top["row"].to_numpy()],
            "resolved_at": np.where(resolved, observed[np.maximum(end, 0)], np.datetime64("NaT")),
            "status": np.where(resolved, "resolved", "ongoing"),
            "duration_days": np.round(duration, 2),
            "tocilizumab_doses": _count_between(toci_keys, start_key, stop_key),
            "steroid_dexamethasone_mg": np.round(
                cumulative[steroid_stop] - cumulative[steroid_start], 1
            ),
            "steroid_doses_not_counted": missed[steroid_stop] - missed[steroid_start],
        }
    )


def _daily(frame: pd.DataFrame) -> pd.DataFrame:
    """Per patient and day, the highest CRS and ICANS grade and how many rows were not gradable."""
    day = frame["study_day"]
    key = day.astype("float64").where(day.notna(), np.nan)
    calendar = frame["observed_at"].dt.normalize()
    table = pd.DataFrame(
        {
            "patient_id": frame["patient_id"].to_numpy(),
            "date": calendar.to_numpy(),
            "study_day": key.to_numpy(),
            "crs_max": frame["crs_at_least"].to_numpy(),
            "icans_max": frame["icans_at_least"].to_numpy(),
            "crs_not_gradable": (frame["crs_status"].astype(str) == "not_gradable").to_numpy(),
            "icans_not_gradable": (frame["icans_status"].astype(str) == "not_gradable").to_numpy(),
            "assessments": 1,
        }
    )
    daily = table.groupby(["patient_id", "date"], sort=True).agg(
        study_day=("study_day", "first"),
        crs_max=("crs_max", "max"),
        icans_max=("icans_max", "max"),
        crs_not_gradable=("crs_not_gradable", "sum"),
        icans_not_gradable=("icans_not_gradable", "sum"),
        assessments=("assessments", "sum"),
    )
    daily["study_day"] = daily["study_day"].astype("Int64")
    return daily.reset_index()
