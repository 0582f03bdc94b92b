"""The analytics of a cohort as files for a paper: tables as CSV, figures as PNG and SVG.

What :func:`write_analytics` writes (de-identified: counts, summaries and curves only, no
patient-level row):

- ``table1_by_product.csv``, ``table1_by_disease.csv``: Table 1 (tableone);
- ``incidence_by_max_grade.csv``: CRS and ICANS by highest ASTCT grade (any, 1-2, 3-4, 5) per
  product; ``onset_duration.csv``: onset day and duration, median (IQR); ``drug_use.csv``,
  ``bcells_ivig.csv``;
- ``cumulative_incidence_curves.csv``, ``numbers_at_risk.csv``, ``curve_counts.csv``: the
  Aalen-Johansen curves of CRS onset, ICANS onset, B-cell recovery and IVIG start with death and
  re-treatment competing (:mod:`dashboard.analytics.cumulative_incidence`);
- ``figures/cumulative_incidence_<endpoint>.{png,svg}`` and
  ``figures/incidence_<syndrome>.{png,svg}``: the same figures as the cohort view. PNG and SVG need
  Chrome or Chromium (kaleido); without one the tables are still written and
  ``figures/NOT_WRITTEN.txt`` says why and how to get one (the manifest says so too);
- ``manifest.json``: the de-identification manifest, the grading policy and what was written.

Each CSV starts with the manifest as ``#`` lines (pandas: ``read_csv(path, comment="#")``).
Unlike the tidy exports this is not streamed: the statistics need the whole cohort at once
(the cohort view's memory, measured in docs/performance.md).
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine

from dashboard.analytics.endpoints import ENDPOINTS
from dashboard.exports.source import ExportRequest, Progress
from dashboard.figures.cohort import incidence_bars
from dashboard.figures.incidence import FigureExportError, incidence_figure, save_figure
from dashboard.services.cohort import CohortView, cohort_view, table_one_of
from dashboard.services.deidentify import manifest_comment
from dashboard.store.access import Actor

NOT_WRITTEN = "NOT_WRITTEN.txt"
FIGURE_SUFFIXES = (".png", ".svg")


def write_analytics(
    engine: Engine,
    actor: Actor,
    request: ExportRequest,
    out_dir: Path,
    progress: Progress | None = None,
) -> list[Path]:
    """Write the analytics tables and figures of the request's cohort into ``out_dir``."""
    view = cohort_view(engine, actor, request.filters, "product")  # refuses before any file
    out_dir.mkdir(parents=True, exist_ok=True)
    if progress is not None:
        progress(0, view.patients)
    frames = view.frames()
    tables = {
        "table1_by_product": view.table1,
        "table1_by_disease": table_one_of(engine, actor, request.filters, "disease"),
        "incidence_by_max_grade": view.incidence,
        "onset_duration": view.timing,
        "drug_use": view.drugs,
        "bcells_ivig": view.bcells,
        "cumulative_incidence_curves": frames["incidence_curves"],
        "numbers_at_risk": frames["numbers_at_risk"],
        "curve_counts": frames["curve_counts"],
    }
    header = manifest_comment(view.manifest)
    written = []
    for name, frame in tables.items():
        path = out_dir / f"{name}.csv"
        path.write_text(header + frame.to_csv(index=False, lineterminator="\n"), encoding="utf-8")
        written.append(path)
    figures, problem = _figures(view, out_dir / "figures")
    written += figures
    manifest = {
        **view.manifest,
        "patients": str(view.patients),
        "figures": problem or "PNG and SVG written",
        "files": ", ".join(p.relative_to(out_dir).as_posix() for p in written),
    }
    target = out_dir / "manifest.json"
    target.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    if progress is not None:
        progress(view.patients, view.patients)
    return [*written, target]


def _figures(view: CohortView, folder: Path) -> tuple[list[Path], str]:
    """The figures as PNG and SVG; without a browser, a note instead (and its reason)."""
    folder.mkdir(parents=True, exist_ok=True)
    figures = {
        f"cumulative_incidence_{endpoint}": incidence_figure(
            [c for c in view.curves if c.endpoint == endpoint]
        )
        for endpoint in ENDPOINTS
    }
    if not view.incidence.empty:
        figures |= {f"incidence_{s}": incidence_bars(view.incidence, s) for s in ("CRS", "ICANS")}
    written: list[Path] = []
    try:
        for name, figure in figures.items():
            written += [save_figure(figure, folder / f"{name}{s}") for s in FIGURE_SUFFIXES]
    except FigureExportError as error:
        for path in written:
            path.unlink()
        note = folder / NOT_WRITTEN
        note.write_text(f"The figures were not written: {error}\n", encoding="utf-8")
        return [note], f"not written: {error}"
    return written, ""
