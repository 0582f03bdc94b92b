"""The research exports a researcher can ask for, by name: one catalogue for the command line
(``cartwatch export``) and the researcher page.

Each :class:`ExportKind` names a writer in :mod:`dashboard.exports` (imported when used: pyreadstat,
pyarrow and fhir.resources are slow to import) that streams the de-identified tables of
:mod:`dashboard.exports.source` into a folder. :func:`run_export` writes into a folder (the
command line); :func:`prepare_export` writes into a temporary folder and returns one zip file (the
page's download). Access is checked by the writers' source: researchers and administrators only,
a researcher within their own sites.
"""

from __future__ import annotations

import importlib
import os
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from dashboard.exports.source import (
    DateMode,
    ExportRequest,
    Progress,
    count_patients,
    export_key,
    export_manifest,
)
from dashboard.services.cohort_data import visible_sites
from dashboard.store.access import Actor

__all__ = [
    "KINDS", "ExportKind", "PreparedExport", "manifest_of", "prepare_export", "run_export",
    "selected_patients",
]  # fmt: skip


@dataclass(frozen=True)
class ExportKind:
    """One export: what it is, the formats and date modes it offers, and its writer."""

    name: str
    title: str
    description: str
    writer: str  # "module:function", called (engine, actor, request, out_dir, progress[, fmt])
    formats: tuple[str, ...] = ()
    dates: tuple[DateMode, ...] = (DateMode.STUDY_DAY, DateMode.SHIFTED)

    def write(
        self,
        engine: Engine,
        actor: Actor,
        request: ExportRequest,
        out_dir: Path,
        fmt: str | None = None,
        progress: Progress | None = None,
    ) -> list[Path]:
        """Write this export into ``out_dir``; ValueError for a format or date mode it lacks."""
        visible_sites(actor, request.filters.site_ids)  # role and sites, before any file
        if request.dates not in self.dates:
            offered = ", ".join(d.value for d in self.dates)
            raise ValueError(f"{self.name}: dates {request.dates.value} not offered ({offered})")
        module, function = self.writer.split(":")
        writer: Callable[..., list[Path]] = getattr(importlib.import_module(module), function)
        out_dir.mkdir(parents=True, exist_ok=True)
        if self.formats:
            chosen = fmt or self.formats[0]
            if chosen not in self.formats:
                raise ValueError(f"{self.name}: format {chosen!r} not in {', '.join(self.formats)}")
            return writer(engine, actor, request, out_dir, chosen, progress=progress)
        if fmt is not None:
            raise ValueError(f"{self.name} has one format; leave the format out")
        return writer(engine, actor, request, out_dir, progress=progress)


KINDS: dict[str, ExportKind] = {
    kind.name: kind
    for kind in (
        ExportKind(
            "tidy",
            "Tidy tables",
            "Patients, assessments with grades, episodes, labs, drugs, alerts and outcome "
            "events: one file per table (SAS, SPSS and Stata files carry variable labels).",
            "dashboard.exports.tidy:write_tidy",
            formats=("csv", "xlsx", "parquet", "xpt", "sav", "dta"),
        ),
        ExportKind(
            "sdtm",
            "CDISC SDTM (DM, AE, SUPPAE, LB, VS)",
            "SDTM-shaped datasets as CSV and SAS XPT v5: CRS and ICANS episodes as adverse "
            "events (ASTCT grade in SUPPAE), labs with CTCAE toxicity grades, vital signs.",
            "dashboard.exports.sdtm:write_sdtm",
        ),
        ExportKind(
            "registry",
            "Registry fields (EBMT and CIBMTR Day 100)",
            "Per patient: CRS and ICANS occurrence, onset, highest ASTCT grade, resolution and "
            "treatment within day 0-100.",
            "dashboard.exports.registry_fields:write_registry",
        ),
        ExportKind(
            "fhir",
            "FHIR R4 (NDJSON)",
            "Patients (pseudonym only), Observations (LOINC, UCUM) and AdverseEvents with the "
            "ASTCT grade. FHIR needs date-times, so dates are always shifted.",
            "dashboard.exports.fhir_export:write_fhir",
            dates=(DateMode.SHIFTED,),
        ),
        ExportKind(
            "analytics",
            "Analytics and figures",
            "Table 1 (by product and by disease), incidence by highest grade, onset and "
            "duration, cumulative incidence curves with numbers at risk, as CSV and PNG/SVG.",
            "dashboard.exports.analytics_export:write_analytics",
        ),
    )
}


#: Largest zip the page offers for download. Streamlit serves a download from memory, so a larger
#: one is left on the server side and the page gives the command line instead (Streamlit's own
#: advice: keep downloads under a couple of hundred megabytes).
PAGE_DOWNLOAD_MAX_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class PreparedExport:
    """One export zipped into a temporary file for a download (not held in memory)."""

    file_name: str
    path: Path
    size: int
    files: tuple[str, ...]

    @property
    def data(self) -> bytes:
        """The zip's bytes, read when asked for (at the click on the download button)."""
        return self.path.read_bytes()

    @property
    def fits_the_page(self) -> bool:
        return self.size <= PAGE_DOWNLOAD_MAX_BYTES

    def discard(self) -> None:
        """Delete the zip (when another export replaces it)."""
        self.path.unlink(missing_ok=True)


def run_export(
    engine: Engine,
    actor: Actor,
    kind: str,
    request: ExportRequest,
    out_dir: Path,
    fmt: str | None = None,
    progress: Progress | None = None,
) -> list[Path]:
    """Write export ``kind`` into ``out_dir``; KeyError names the kinds on offer."""
    if kind not in KINDS:
        raise KeyError(f"unknown export {kind!r} (on offer: {', '.join(KINDS)})")
    return KINDS[kind].write(engine, actor, request, out_dir, fmt, progress)


def prepare_export(
    engine: Engine,
    actor: Actor,
    kind: str,
    request: ExportRequest,
    fmt: str | None = None,
    progress: Progress | None = None,
) -> PreparedExport:
    """Export ``kind`` into a temporary folder and zip it into a temporary file (streamed from
    disk to disk: memory is the export's own, not the zip's)."""
    handle, name = tempfile.mkstemp(prefix="cartwatch-export-", suffix=".zip")
    os.close(handle)
    target = Path(name)
    try:
        with tempfile.TemporaryDirectory(prefix="cartwatch-export-") as folder:
            root = Path(folder)
            paths = run_export(engine, actor, kind, request, root, fmt, progress)
            with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
                for path in sorted(paths):
                    archive.write(path, path.relative_to(root).as_posix())
            names = tuple(sorted(p.relative_to(root).as_posix() for p in paths))
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    suffix = f"_{fmt}" if fmt else ""
    return PreparedExport(f"cartwatch_{kind}{suffix}_{request.dates.value}.zip", target,
                          target.stat().st_size, names)  # fmt: skip


def selected_patients(engine: Engine, actor: Actor, request: ExportRequest) -> int:
    """How many patients the request selects (AccessDeniedError for a foreign site)."""
    return count_patients(engine, actor, request)


def manifest_of(engine: Engine, actor: Actor, request: ExportRequest) -> dict[str, str]:
    """The de-identification manifest an export of this request carries."""
    return export_manifest(export_key(engine, actor), request)
