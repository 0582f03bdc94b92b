"""The tidy research tables (issue #6): one file per table, in the format a researcher's tool reads.

:func:`write_tidy` writes the de-identified tables of :mod:`dashboard.exports.source`
(:data:`~dashboard.exports.source.TABLES`: patients, assessments, episodes, labs, drugs, alerts,
events) into a folder, as

- ``csv``: ``<table>.csv``, headed by the manifest as ``#`` comment lines (read with
  ``pandas.read_csv(path, comment="#")``); blank cell = missing; booleans ``true``/``false``;
  date-times ISO 8601 to the second;
- ``parquet``: ``<table>.parquet`` with a **fixed schema** per table (below), the manifest in the
  file's key-value metadata (``cartwatch.manifest``); missing = null;
- ``xlsx``: one workbook ``tidy.xlsx``, a sheet per table and a ``manifest`` sheet; a table
  longer than a sheet (1,048,575 data rows) continues in ``<table>_2``, ``<table>_3``, ...;
  missing = empty cell;
- ``xpt`` (SAS transport **version 5**, the one SAS's ``XPORT`` engine and the FDA read),
  ``sav`` (SPSS) and ``dta`` (Stata 15): ``<table>.<ext>`` with **variable labels** from
  :data:`~dashboard.exports.source.LABELS`; booleans as 0/1 with the value labels no/yes (SPSS,
  Stata); missing = system-missing (``.``) for numbers and date-times, blank for text.
  Version 5 limits SAS names to 8 characters and labels to 40: every column gets the short name
  of :data:`XPT_NAMES` (the map is in ``manifest.json``) and its label is cut to 40 characters
  (the full label is in ``manifest.json``).

and ``manifest.json`` beside them: the de-identification manifest, the format, the date mode, the
cartwatch version, and per table its file(s), row count and variables (type, label, and for XPT
the name in the file). Missing stays missing in every format, never 0 or ``false``.

**Streaming and memory.** The cohort is read chunk by chunk (``request.chunk_patients``
patients). CSV appends each chunk to each table's file, Parquet writes each chunk as a row group
through one :class:`pyarrow.parquet.ParquetWriter` per table, Excel streams rows through an
openpyxl write-only workbook: memory is bounded by one chunk, whatever the cohort's size.
pyreadstat cannot append, so SAS, SPSS and Stata files are written per table from one frame:
the chunks are first streamed to temporary Parquet files, then each table is read back and
written on its own, so memory is bounded by **the largest table** (the labs of the cohort), not
the whole cohort, but it grows with the cohort (``benchmarks/bench_export.py`` measures both).

**Fixed types.** Every column's type comes from :func:`column_kind` (its name), never from the
first chunk's values: a chunk whose column is all missing must not turn a number into a null or
text column. Integers and booleans are nullable (Parquet ``int64``/``bool`` with nulls; pandas
``Int64``/``boolean``), text is a nullable string, date-times are timestamps to the second.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from enum import StrEnum
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import IO, Any

import pandas as pd
from sqlalchemy import Engine

from dashboard.exports.source import (
    LABELS,
    TABLES,
    ExportRequest,
    Progress,
    columns,
    export_chunks,
    export_key,
    export_manifest,
)
from dashboard.services.deidentify import manifest_comment
from dashboard.store.access import Actor

MANIFEST = "manifest.json"
WORKBOOK = "tidy.xlsx"
#: Data rows on one Excel sheet (1,048,576 rows, one for the header).
SHEET_ROWS = 1_048_575
#: The key of the manifest in each Parquet file's key-value metadata.
PARQUET_KEY = "cartwatch.manifest"
#: File labels (SAS allows 40 characters): a pointer to the manifest beside the file.
FILE_LABEL = "De-identified: see manifest.json"
XPT_LABEL_CHARS = 40
STATA_LABEL_CHARS = 80


class TidyFormat(StrEnum):
    """The file formats of the tidy tables."""

    CSV = "csv"
    XLSX = "xlsx"
    PARQUET = "parquet"
    XPT = "xpt"
    SAV = "sav"
    DTA = "dta"


class Kind(StrEnum):
    """A column's type in every format."""

    TEXT = "text"
    REAL = "real"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    DATETIME = "datetime"


_INTEGERS = frozenset(
    {"ice_score", "capd_score", "crs_grade", "icans_grade", "crs_episode", "icans_episode",
     "study_day", "episode", "onset_study_day", "peak_grade", "tocilizumab_doses",
     "steroid_doses_not_counted"}
)  # fmt: skip
_BOOLEANS = frozenset(
    {"developmental_delay", "fever_masked", "tocilizumab_indicated", "steroids_indicated",
     "icu_indicated"}
)  # fmt: skip
_REALS = frozenset(
    {"age_years", "weight_kg", "temperature_c", "oxygen_l_min", "heart_rate_bpm",
     "systolic_bp_mmhg", "diastolic_bp_mmhg", "spo2_pct", "respiratory_rate_min",
     "duration_days", "steroid_dexamethasone_mg", "value", "dose"}
)  # fmt: skip


def column_kind(column: str) -> Kind:
    """The fixed type of a column: named sets first, then ``*_at`` date-time and ``*_day`` study
    day (real); any other column is text (a new column of the source still exports, as text)."""
    if column in _INTEGERS:
        return Kind.INTEGER
    if column in _BOOLEANS:
        return Kind.BOOLEAN
    if column in _REALS or column.endswith("_day"):
        return Kind.REAL
    if column.endswith("_at"):
        return Kind.DATETIME
    return Kind.TEXT


#: SAS XPT version 5 names (8 characters at most) of every column of every table.
XPT_NAMES: dict[str, str] = {
    "pseudonym": "pseudo", "infusion_day": "inf_day", "infusion_at": "inf_at",
    "lymphodepletion_start_day": "ld_day", "lymphodepletion_start_at": "ld_at",
    "age_years": "age_yrs", "weight_kg": "wt_kg", "observed_day": "obs_day",
    "observed_at": "obs_at", "temperature_c": "temp_c", "hypotension": "hypotens",
    "oxygen_device": "o2_dev", "oxygen_l_min": "o2_lmin", "ice_score": "ice",
    "capd_score": "capd", "consciousness": "consc", "motor_weakness": "motor",
    "cerebral_edema": "edema", "death_attributed_to": "death_to", "heart_rate_bpm": "hr_bpm",
    "systolic_bp_mmhg": "sbp_mmhg", "diastolic_bp_mmhg": "dbp_mmhg",
    "respiratory_rate_min": "rr_min", "developmental_delay": "dev_dly",
    "fever_masked": "fev_mask", "crs_grade": "crs_gr", "crs_status": "crs_stat",
    "icans_grade": "icans_gr", "icans_status": "icans_st", "tocilizumab_indicated": "toci_ind",
    "steroids_indicated": "ster_ind", "icu_indicated": "icu_ind", "crs_episode": "crs_ep",
    "icans_episode": "icans_ep", "study_day": "studyday", "onset_day": "ons_day",
    "resolved_day": "res_day", "resolved_at": "res_at", "onset_study_day": "ons_sday",
    "peak_grade": "peak_gr", "duration_days": "dur_days", "tocilizumab_doses": "toci_n",
    "steroid_dexamethasone_mg": "dex_mg", "steroid_doses_not_counted": "ster_unc",
    "collected_day": "col_day", "collected_at": "col_at", "dose_unit": "dose_u",
    "given_day": "giv_day", "finding_day": "fnd_day", "finding_at": "fnd_at",
    "occurred_day": "occ_day",
    "occurred_at": "occ_at",
}  # fmt: skip
#: SAS dataset names (8 characters at most).
XPT_TABLES = {"assessments": "assess"}


def xpt_names(table_columns: tuple[str, ...]) -> dict[str, str]:
    """Column → its SAS v5 name: :data:`XPT_NAMES`, the column itself when short, else its first
    six characters and a number (a column added to the source later still gets a unique name)."""
    out: dict[str, str] = {}
    for column in table_columns:
        name = XPT_NAMES.get(column, column)
        number = 1
        while len(name) > 8 or name in out.values():
            name = f"{column[:6]}{number}"
            number += 1
        out[column] = name
    return out


def write_tidy(
    engine: Engine,
    actor: Actor,
    request: ExportRequest,
    out_dir: Path,
    fmt: TidyFormat | str,
    progress: Progress | None = None,
) -> list[Path]:
    """Write the tidy tables of ``request`` into ``out_dir`` as ``fmt``; return the files written
    (``manifest.json`` last). AccessDeniedError, before any file is written, for an actor who may
    not export; ValueError for an unknown format."""
    fmt = TidyFormat(fmt)
    key = export_key(engine, actor, request)  # checks role and sites before any file
    out_dir.mkdir(parents=True, exist_ok=True)
    deid = export_manifest(key, request)
    header = {**deid, "format": fmt.value, "dates": request.dates.value, "manifest": MANIFEST}
    chunks = export_chunks(engine, actor, request, progress)
    rows = dict.fromkeys(TABLES, 0)
    with ExitStack() as stack:
        sink = _SINKS[fmt](out_dir, request, header, stack)
        for chunk in chunks:
            for table in TABLES:
                frame = typed(chunk.tables[table], table, request)
                rows[table] += len(frame)
                sink.append(table, frame)
        files = sink.close(rows)
    manifest_path = out_dir / MANIFEST
    manifest_path.write_text(
        json.dumps(_manifest(deid, request, fmt, files, rows), indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    written = dict.fromkeys(path for paths in files.values() for path in paths)
    return [*written, manifest_path]


def typed(frame: pd.DataFrame, table: str, request: ExportRequest) -> pd.DataFrame:
    """The table's columns in output order with their fixed types (:func:`column_kind`):
    ``object`` text (str or None), ``float64``, ``Int64``, ``boolean``, ``datetime64[s]``."""
    out = {}
    for column in columns(table, request.dates):
        values = frame[column]
        kind = column_kind(column)
        if kind is Kind.TEXT:
            text = values.astype(object)
            out[column] = text.where(text.notna(), None).map(lambda v: v if v is None else str(v))
        elif kind is Kind.REAL:
            out[column] = pd.to_numeric(values, errors="raise").astype("float64")
        elif kind is Kind.INTEGER:
            out[column] = pd.to_numeric(values, errors="raise").astype("Int64")
        elif kind is Kind.BOOLEAN:
            out[column] = values.astype(object).where(values.notna(), None).astype("boolean")
        else:
            out[column] = pd.to_datetime(values).dt.floor("s").astype("datetime64[s]")
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))


class _Sink:
    """Receives each chunk's typed tables; ``close`` returns each table's files."""

    def append(self, table: str, frame: pd.DataFrame) -> None:
        raise NotImplementedError

    def close(self, rows: dict[str, int]) -> dict[str, list[Path]]:
        raise NotImplementedError


class _CsvSink(_Sink):
    """``<table>.csv``: the manifest as ``#`` lines, the header once, then each chunk appended."""

    def __init__(
        self, out_dir: Path, request: ExportRequest, header: dict[str, str], stack: ExitStack
    ) -> None:
        self.paths = {table: out_dir / f"{table}.csv" for table in TABLES}
        self.handles: dict[str, IO[str]] = {}
        for table, path in self.paths.items():
            handle = stack.enter_context(path.open("w", encoding="utf-8", newline=""))
            handle.write(manifest_comment({**header, "table": table}))
            handle.write(",".join(columns(table, request.dates)) + "\n")
            self.handles[table] = handle

    def append(self, table: str, frame: pd.DataFrame) -> None:
        out = frame.copy()
        for column in out.columns:
            if column_kind(column) is Kind.BOOLEAN:
                out[column] = out[column].map({True: "true", False: "false"}).astype(object)
        out.to_csv(
            self.handles[table], header=False, index=False, na_rep="",
            date_format="%Y-%m-%dT%H:%M:%S", lineterminator="\n",
        )  # fmt: skip

    def close(self, rows: dict[str, int]) -> dict[str, list[Path]]:
        for handle in self.handles.values():
            handle.close()
        return {table: [path] for table, path in self.paths.items()}


def arrow_schema(table: str, request: ExportRequest, metadata: dict[str, str] | None = None) -> Any:
    """The table's fixed Parquet schema (every field nullable)."""
    import pyarrow as pa

    types = {
        Kind.TEXT: pa.string(),
        Kind.REAL: pa.float64(),
        Kind.INTEGER: pa.int64(),
        Kind.BOOLEAN: pa.bool_(),
        Kind.DATETIME: pa.timestamp("s"),
    }
    fields = [pa.field(c, types[column_kind(c)]) for c in columns(table, request.dates)]
    return pa.schema(fields, metadata=metadata)


class _ParquetSink(_Sink):
    """``<table>.parquet``: one ParquetWriter per table, each chunk a row group."""

    def __init__(
        self, out_dir: Path, request: ExportRequest, header: dict[str, str], stack: ExitStack
    ) -> None:
        import pyarrow.parquet as pq

        self.paths = {table: out_dir / f"{table}.parquet" for table in TABLES}
        metadata = {PARQUET_KEY: json.dumps(header, ensure_ascii=False)}
        self.schemas = {t: arrow_schema(t, request, metadata) for t in TABLES}
        self.writers = {
            table: stack.enter_context(pq.ParquetWriter(path, self.schemas[table]))
            for table, path in self.paths.items()
        }

    def append(self, table: str, frame: pd.DataFrame) -> None:
        import pyarrow as pa

        if frame.empty:
            return
        schema = self.schemas[table]
        self.writers[table].write_table(
            pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
        )

    def close(self, rows: dict[str, int]) -> dict[str, list[Path]]:
        for writer in self.writers.values():
            writer.close()
        return {table: [path] for table, path in self.paths.items()}


class _ExcelSink(_Sink):
    """One write-only workbook: rows streamed to each table's sheet, then a manifest sheet."""

    def __init__(
        self, out_dir: Path, request: ExportRequest, header: dict[str, str], stack: ExitStack
    ) -> None:
        from openpyxl import Workbook

        self.path = out_dir / WORKBOOK
        self.header = header
        self.request = request
        self.book = Workbook(write_only=True)
        self.sheets: dict[str, list[Any]] = {table: [] for table in TABLES}
        self.filled: dict[str, int] = dict.fromkeys(TABLES, SHEET_ROWS)
        for table in TABLES:
            self._new_sheet(table)

    def _new_sheet(self, table: str) -> Any:
        sheets = self.sheets[table]
        name = table if not sheets else f"{table}_{len(sheets) + 1}"
        sheet = self.book.create_sheet(name)
        sheet.append(list(columns(table, self.request.dates)))
        sheets.append(sheet)
        self.filled[table] = 0
        return sheet

    def append(self, table: str, frame: pd.DataFrame) -> None:
        sheet = self.sheets[table][-1]
        for row in _python_rows(frame):
            if self.filled[table] >= SHEET_ROWS:
                sheet = self._new_sheet(table)
            sheet.append(row)
            self.filled[table] += 1

    def sheet_names(self) -> dict[str, list[str]]:
        return {table: [s.title for s in sheets] for table, sheets in self.sheets.items()}

    def close(self, rows: dict[str, int]) -> dict[str, list[Path]]:
        manifest_sheet = self.book.create_sheet("manifest")
        manifest_sheet.append(["entry", "value"])
        for name, value in self.header.items():
            manifest_sheet.append([name, value])
        for table, names in self.sheet_names().items():
            manifest_sheet.append([f"rows: {table}", rows[table]])
            manifest_sheet.append([f"sheets: {table}", ", ".join(names)])
        self.book.save(self.path)
        return {table: [self.path] for table in TABLES}


def _python_rows(frame: pd.DataFrame) -> Iterator[list[Any]]:
    """The frame's rows as Python values, missing as None (an empty cell)."""
    values = frame.astype(object)
    values = values.where(frame.notna(), None)
    for row in values.itertuples(index=False, name=None):
        yield [v.to_pydatetime() if isinstance(v, pd.Timestamp) else v for v in row]


class _StatisticsSink(_Sink):
    """SAS XPT, SPSS, Stata: chunks streamed to temporary Parquet files, then each table read back
    and written by pyreadstat (which cannot append): memory is bounded by the largest table."""

    def __init__(
        self,
        out_dir: Path,
        request: ExportRequest,
        header: dict[str, str],
        stack: ExitStack,
        fmt: TidyFormat,
    ) -> None:
        self.out_dir = out_dir
        self.request = request
        self.fmt = fmt
        spool = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cartwatch-tidy-")))
        self.spool = _ParquetSink(spool, request, header, stack)

    def append(self, table: str, frame: pd.DataFrame) -> None:
        self.spool.append(table, frame)

    def close(self, rows: dict[str, int]) -> dict[str, list[Path]]:
        import pyarrow.parquet as pq

        spooled = self.spool.close(rows)
        out = {}
        for table in TABLES:
            frame = statistics_from_arrow(pq.read_table(spooled[table][0]))
            path = self.out_dir / f"{table}.{self.fmt.value}"
            _WRITE_STATISTICS[self.fmt](frame, path, table)
            out[table] = [path]
            del frame
        return out


def statistics_from_arrow(spooled: Any) -> pd.DataFrame:
    """:func:`statistics_frame` of a spooled (already typed) Arrow table, built one column at a
    time: the table is held once as Arrow and once as the result, never as two more pandas
    copies (about a third of the memory of converting the whole table first)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out = {}
    for name in spooled.column_names:
        column = spooled.column(name)
        kind = column_kind(name)
        if kind is Kind.TEXT:
            out[name] = column.to_pandas().astype(object).fillna("")
        elif kind is Kind.DATETIME:
            out[name] = column.to_pandas().astype("datetime64[ns]")
        else:  # numbers, integers, booleans (0/1): float64, missing as NaN
            out[name] = pc.cast(column, pa.float64()).to_pandas()
    return pd.DataFrame(out, index=pd.RangeIndex(spooled.num_rows))


def statistics_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Explicit types for pyreadstat: text as ``object`` with "" for missing (blank), numbers,
    integers and booleans (0/1) as ``float64`` with NaN (system-missing), date-times as
    ``datetime64[ns]`` with NaT. pyreadstat's own guessing of nullable and object columns is not
    relied on (it changed between releases)."""
    out = {}
    for column in frame.columns:
        kind = column_kind(column)
        values = frame[column]
        if kind is Kind.TEXT:
            out[column] = values.astype(object).where(values.notna(), "")
        elif kind is Kind.DATETIME:
            out[column] = values.astype("datetime64[ns]")
        else:
            out[column] = values.astype("Float64").astype("float64")
    return pd.DataFrame(out, index=frame.index)


def _labels(frame: pd.DataFrame, limit: int) -> dict[str, str | None]:
    return {c: LABELS.get(c, c)[:limit] for c in frame.columns}


def _formats(frame: pd.DataFrame, datetime_format: str) -> dict[str, str]:
    """Date-time columns keep their format even when all missing (pyreadstat would guess)."""
    return {c: datetime_format for c in frame.columns if column_kind(c) is Kind.DATETIME}


def _yes_no(frame: pd.DataFrame) -> dict[str, dict[float, str]]:
    return {c: {0.0: "no", 1.0: "yes"} for c in frame.columns if column_kind(c) is Kind.BOOLEAN}


def _write_xpt(frame: pd.DataFrame, path: Path, table: str) -> None:
    import pyreadstat

    names = xpt_names(tuple(frame.columns))
    renamed = frame.rename(columns=names)
    pyreadstat.write_xport(
        renamed, str(path), file_label=FILE_LABEL,
        column_labels={names[c]: label for c, label in _labels(frame, XPT_LABEL_CHARS).items()},
        table_name=XPT_TABLES.get(table, table), file_format_version=5,
        variable_format={names[c]: f for c, f in _formats(frame, "DATETIME20").items()},
    )  # fmt: skip


def _write_sav(frame: pd.DataFrame, path: Path, table: str) -> None:
    import pyreadstat

    pyreadstat.write_sav(
        frame, str(path), file_label=FILE_LABEL, column_labels=_labels(frame, 256),
        variable_value_labels=_yes_no(frame), variable_format=_formats(frame, "DATETIME20"),
    )  # fmt: skip


def _write_dta(frame: pd.DataFrame, path: Path, table: str) -> None:
    import pyreadstat

    pyreadstat.write_dta(
        frame, str(path), file_label=FILE_LABEL,
        column_labels=_labels(frame, STATA_LABEL_CHARS), version=15,
        variable_value_labels=_yes_no(frame), variable_format=_formats(frame, "%tc"),
    )  # fmt: skip


_WRITE_STATISTICS: dict[TidyFormat, Callable[[pd.DataFrame, Path, str], None]] = {
    TidyFormat.XPT: _write_xpt,
    TidyFormat.SAV: _write_sav,
    TidyFormat.DTA: _write_dta,
}


def _statistics(fmt: TidyFormat) -> Callable[..., _Sink]:
    def make(
        out_dir: Path, request: ExportRequest, header: dict[str, str], stack: ExitStack
    ) -> _Sink:
        return _StatisticsSink(out_dir, request, header, stack, fmt)

    return make


_SINKS: dict[TidyFormat, Callable[..., _Sink]] = {
    TidyFormat.CSV: _CsvSink,
    TidyFormat.PARQUET: _ParquetSink,
    TidyFormat.XLSX: _ExcelSink,
    TidyFormat.XPT: _statistics(TidyFormat.XPT),
    TidyFormat.SAV: _statistics(TidyFormat.SAV),
    TidyFormat.DTA: _statistics(TidyFormat.DTA),
}


def cartwatch_version() -> str:
    """The installed cartwatch version ("unknown" outside an installed package)."""
    try:
        return version("cartwatch")
    except PackageNotFoundError:
        return "unknown"


def _manifest(
    deid: dict[str, str],
    request: ExportRequest,
    fmt: TidyFormat,
    files: dict[str, list[Path]],
    rows: dict[str, int],
) -> dict[str, Any]:
    tables: dict[str, Any] = {}
    for table in TABLES:
        cols = columns(table, request.dates)
        short = xpt_names(cols) if fmt is TidyFormat.XPT else {}
        variables = {
            c: {"type": column_kind(c).value, "label": LABELS.get(c, c)}
            | ({"name_in_file": short[c]} if c in short else {})
            for c in cols
        }
        tables[table] = {
            "files": sorted({p.name for p in files[table]}),
            "rows": rows[table],
            "variables": variables,
        }
        if fmt is TidyFormat.XPT:
            tables[table]["sas_dataset"] = XPT_TABLES.get(table, table)
    return {
        "export": "tidy",
        "format": fmt.value,
        "dates": request.dates.value,
        "cartwatch_version": cartwatch_version(),
        "filters": deid["filters"],  # as the manifest words them: no infusion date leaves
        "missing": "blank cell, null or system-missing: not recorded; never 0 or false",
        "de-identification": deid,
        "tables": tables,
    }
