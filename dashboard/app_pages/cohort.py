"""Cohort view (researchers and admins): filters, Table 1, CRS and ICANS incidence, timing, drug
use, B cells and IVIG, cumulative incidence curves, a swimmer plot and a de-identified CSV
download.

Thin page: read the filters, call :func:`dashboard.services.cohort.cohort_view`, render. Every
frame it shows is de-identified by the service (pseudonyms, study days, no free text).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.analytics.endpoints import ENDPOINTS
from dashboard.app_pages.cohort_filters import read_filters
from dashboard.app_pages.common import engine, require
from dashboard.figures.cohort import incidence_bars, swimmer
from dashboard.figures.incidence import incidence_figure
from dashboard.services import cohort as svc
from dashboard.store.access import Role
from dashboard.store.errors import AccessDeniedError

SWIMMER_MAX_PATIENTS = 300
NUMBER = st.column_config.NumberColumn


def show_manifest(manifest: dict[str, str]) -> None:
    with st.expander("De-identification: what was removed and how"):
        st.table(pd.DataFrame({"rule": list(manifest), "applied": list(manifest.values())}))


def show_incidence(view: svc.CohortView) -> None:
    st.markdown("##### CRS and ICANS incidence by highest grade")
    st.caption("Patients by the highest grade of any episode (ASTCT 2019, policy "
               f"{view.policy}); % of the patients of the product.")  # fmt: skip
    left, right = st.columns(2)
    left.plotly_chart(incidence_bars(view.incidence, "CRS"), key="incidence_crs")
    right.plotly_chart(incidence_bars(view.incidence, "ICANS"), key="incidence_icans")
    st.dataframe(view.incidence, hide_index=True, key="incidence_table")


def show_timing(view: svc.CohortView) -> None:
    st.markdown("##### Time to onset and duration")
    st.caption("Onset: study day of the first episode. Duration: days from onset to resolution, "
               "summed over the patient's episodes (blank while one is ongoing). Median (IQR "
               "q1-q3) among the patients with the syndrome.")  # fmt: skip
    st.dataframe(view.timing, hide_index=True, key="timing_table")


def show_treatment(view: svc.CohortView) -> None:
    left, right = st.columns(2)
    with left:
        st.markdown("##### Tocilizumab and corticosteroids")
        st.caption("Doses in the drug log from the infusion on.")
        st.dataframe(view.drugs, hide_index=True, key="drugs_table")
    with right:
        st.markdown("##### B-cell aplasia and IVIG")
        st.caption("Aplasia days: onset to confirmed recovery (median and IQR among recovered "
                   "patients); 'still aplastic' are censored at the last follow-up.")  # fmt: skip
        st.dataframe(view.bcells, hide_index=True, key="bcells_table")


def show_curves(view: svc.CohortView) -> None:
    st.markdown("##### Cumulative incidence")
    st.caption("Aalen-Johansen estimate from the infusion (day 0), per product and for all "
               "products; death and re-treatment are competing events, patients are censored at "
               "their last record. Shaded: pointwise 95% confidence band. Under the plot: numbers "
               "at risk (still followed and event-free). B-cell recovery counts only patients "
               "with documented aplasia.")  # fmt: skip
    left, right = st.columns([3, 1])
    endpoint = left.selectbox("Endpoint", list(ENDPOINTS), format_func=ENDPOINTS.__getitem__,
                              key="curve_endpoint")  # fmt: skip
    show_ci = right.toggle("Confidence band", value=True, key="curve_ci")
    chosen = [c for c in view.curves if c.endpoint == endpoint]
    st.plotly_chart(incidence_figure(chosen, show_ci=show_ci), key="incidence_curve")
    counts = view.frames()["curve_counts"]
    st.dataframe(counts[counts["endpoint"] == endpoint], hide_index=True, key="curve_counts")


def show_swimmer(view: svc.CohortView) -> None:
    st.markdown("##### Swimmer plot")
    if view.patients > SWIMMER_MAX_PATIENTS:
        st.info(f"{view.patients} patients: narrow the filters to at most "
                f"{SWIMMER_MAX_PATIENTS} to draw one bar per patient.")  # fmt: skip
        return
    whole = st.toggle("Whole follow-up (otherwise days 0-30)", key="swimmer_whole")
    figure = swimmer(view.swimmer_lanes, view.swimmer_episodes, view.swimmer_markers,
                     max_day=None if whole else 30)  # fmt: skip
    st.plotly_chart(figure, key="swimmer")


def show_download(view: svc.CohortView) -> None:
    for label, (file_name, mime, writer) in svc.EXPORTS.items():
        st.download_button(
            f"Download the per-patient summary ({label}, de-identified)",
            data=writer(view),
            file_name=file_name,
            mime=mime,
            icon=":material/download:",
            key=f"download_{label.lower()}",
        )
    st.caption("The file starts with the de-identification manifest as '#' lines "
               "(pandas: read_csv(path, comment='#')).")  # fmt: skip


def main() -> None:
    actor = require(Role.RESEARCHER, Role.ADMIN)
    st.title("Cohort view")
    st.caption("De-identified: pseudonyms instead of study ids, study days instead of dates, "
               "no free text, site ids only.")  # fmt: skip
    try:
        options = svc.options(engine(), actor)
        filters = read_filters(options)
        table1_by = st.segmented_control("Group Table 1 by", svc.TABLE1_GROUPS, key="table1_by",
                                         default="product", required=True)  # fmt: skip
        view = svc.cohort_view(engine(), actor, filters, str(table1_by or "product"))
    except AccessDeniedError as error:
        st.error(str(error), icon=":material/block:")
        return
    if view.patients == 0:
        st.info("No patient matches these filters. Widen the site, disease, product or infusion "
                "date selection.", icon=":material/filter_alt_off:")  # fmt: skip
        show_manifest(view.manifest)
        return
    st.metric("Patients", view.patients)
    st.markdown("##### Table 1")
    st.dataframe(view.table1, hide_index=True, key="table1")
    show_incidence(view)
    show_timing(view)
    show_treatment(view)
    show_curves(view)
    show_swimmer(view)
    st.markdown("##### Per patient")
    st.dataframe(view.summary, hide_index=True, key="summary_table",
                 column_config={"follow_up_days": NUMBER(format="%.1f")})  # fmt: skip
    show_download(view)
    show_manifest(view.manifest)
    st.caption(f"Computed in {view.seconds:.2f} s.")


main()
