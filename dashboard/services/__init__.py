"""Services: what the pages call. Pure Python (no Streamlit), so they can be tested directly."""
