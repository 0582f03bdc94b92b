"""Research exports (researchers and admins): choose the patients, the export and its format,
prepare it with a progress bar, download one zip file.

Thin page: read the choices, call :mod:`dashboard.services.exports`, render. Every file is
de-identified by the export source (pseudonyms, study days or shifted dates, no free text); the
manifest shown here is the one inside the zip.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.app_pages.cohort_filters import read_filters
from dashboard.app_pages.common import engine, require
from dashboard.exports.source import DateMode, ExportRequest
from dashboard.services import cohort
from dashboard.services import exports as svc
from dashboard.store.access import Actor, Role
from dashboard.store.errors import AccessDeniedError

DATE_LABELS = {
    DateMode.STUDY_DAY: "Study days only (no calendar date leaves)",
    DateMode.SHIFTED: "Shifted dates (each patient's dates moved back 1-364 days, fixed per "
    "patient) and study days",
}
READY = "export_ready"


def read_request(actor: Actor, kind: svc.ExportKind) -> tuple[ExportRequest, str | None]:
    options = cohort.options(engine(), actor)
    filters = read_filters(options, prefix="export")
    left, right = st.columns(2)
    fmt = None
    if kind.formats:
        fmt = left.selectbox("File format", kind.formats, key="export_format",
                             format_func=str.upper)  # fmt: skip
    dates = right.radio("Dates", kind.dates, key=f"export_dates_{kind.name}",
                        format_func=DATE_LABELS.__getitem__)  # fmt: skip
    return ExportRequest(filters=filters, dates=dates), fmt


def prepare(actor: Actor, kind: svc.ExportKind, request: ExportRequest, fmt: str | None) -> None:
    bar = st.progress(0.0, text="Reading and grading the patients...")

    def progress(done: int, total: int) -> None:
        bar.progress(done / total if total else 1.0, text=f"{done} of {total} patients")

    ready = svc.prepare_export(engine(), actor, kind.name, request,
                               fmt, progress)  # fmt: skip
    bar.empty()
    earlier = st.session_state.get(READY)
    if earlier is not None:
        earlier[3].discard()
    st.session_state[READY] = (kind.name, fmt, request, ready)


def offer_download(kind: svc.ExportKind, request: ExportRequest, fmt: str | None) -> None:
    ready = st.session_state.get(READY)
    if ready is None or ready[:3] != (kind.name, fmt, request):
        return  # nothing prepared for these choices (a change of choice drops the old file)
    prepared: svc.PreparedExport = ready[3]
    megabytes = f"{prepared.size / 1024 / 1024:.1f} MB"
    if prepared.fits_the_page:
        # data as a callable: the zip is read from disk at the click, not kept in memory
        st.download_button(f"Download {prepared.file_name}", data=lambda: prepared.data,
                           file_name=prepared.file_name, mime="application/zip",
                           icon=":material/download:", key="export_download")  # fmt: skip
    else:
        st.warning(f"{prepared.file_name} is {megabytes}, too large to download through the "
                   "browser. Run the same export on the server: `cartwatch export "
                   f"{kind.name} --out DIR --user USER` with the same filters.",
                   icon=":material/terminal:")  # fmt: skip
    st.caption(f"{megabytes}, {len(prepared.files)} files: " + ", ".join(prepared.files))


def main() -> None:
    actor = require(Role.RESEARCHER, Role.ADMIN)
    st.title("Research exports")
    st.caption("De-identified by default: pseudonyms instead of study ids, study days (or "
               "per-patient shifted dates) instead of dates, no free text, site ids only. "
               "The same exports run from the command line: `cartwatch export KIND ...`.")  # fmt: skip
    names = list(svc.KINDS)
    name = st.radio("Export", names, key="export_kind", horizontal=True,
                    format_func=lambda n: svc.KINDS[n].title)  # fmt: skip
    kind = svc.KINDS[name]
    st.caption(kind.description)
    try:
        request, fmt = read_request(actor, kind)
        patients = svc.selected_patients(engine(), actor, request)
        manifest = svc.manifest_of(engine(), actor, request)
    except AccessDeniedError as error:
        st.error(str(error), icon=":material/block:")
        return
    st.metric("Patients selected", patients)
    if patients == 0:
        st.info("No patient matches these filters.", icon=":material/filter_alt_off:")
    elif st.button("Prepare export", icon=":material/archive:", key="export_prepare"):
        try:
            prepare(actor, kind, request, fmt)
        except (AccessDeniedError, ValueError, RuntimeError) as error:
            st.error(f"The export failed: {error}", icon=":material/error:")
    offer_download(kind, request, fmt)
    with st.expander("De-identification: what was removed and how"):
        st.table(pd.DataFrame({"rule": list(manifest), "applied": list(manifest.values())}))


main()
