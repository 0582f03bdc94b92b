"""The clinical data store: SQLAlchemy 2 models, Alembic migrations, repositories, audit trail.

SQLite is the embedded default; PostgreSQL serves many sites from one server. Nothing here imports
Streamlit. Every repository call takes the acting user; clinical values are never updated in place.
"""
