"""Plotly figures built by plain functions from service results (no Streamlit here)."""
