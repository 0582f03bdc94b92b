"""The cohort filters (sites, diseases, products, infusion dates), shared by the cohort view and
the research export page. Widget keys are per page (``prefix``) so each page keeps its own choice."""

from __future__ import annotations

from datetime import date

import streamlit as st

from dashboard.services.cohort_data import CohortFilters, CohortOptions


def read_filters(options: CohortOptions, prefix: str = "cohort") -> CohortFilters:
    sites, diseases, products, dates = st.columns([2, 3, 3, 3])
    site_ids = sites.multiselect("Site", options.site_ids, key=f"{prefix}_sites",
                                 placeholder="all my sites")  # fmt: skip
    chosen_diseases = diseases.multiselect("Disease", options.diseases, key=f"{prefix}_diseases",
                                           placeholder="all")  # fmt: skip
    chosen_products = products.multiselect("Product", options.products, key=f"{prefix}_products",
                                           placeholder="all")  # fmt: skip
    start = date(options.first_year, 1, 1) if options.first_year else None
    end = date(options.last_year, 12, 31) if options.last_year else None
    picked = dates.date_input(
        "Infusion date range",
        value=(start, end),
        key=f"{prefix}_dates",
        help="Filters by the calendar day of the infusion; the view itself shows study days only.",
    )
    chosen = tuple(picked) if isinstance(picked, tuple | list) else (picked,)
    return CohortFilters(
        site_ids=frozenset(site_ids),
        diseases=frozenset(chosen_diseases),
        products=frozenset(chosen_products),
        infused_from=chosen[0] if len(chosen) > 0 else None,
        infused_to=chosen[1] if len(chosen) > 1 else None,
    )
