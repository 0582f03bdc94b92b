"""Cohort analytics for research (issue #6): time-to-event endpoints and cumulative incidence.

Pure pandas/numpy/lifelines, no Streamlit and no database: :mod:`.endpoints` turns a cohort's
records into one time/status row per patient and endpoint, :mod:`.cumulative_incidence` estimates
the Aalen-Johansen cumulative incidence curves and numbers at risk from those rows.
"""
