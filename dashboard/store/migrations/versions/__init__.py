"""Migration scripts, one per revision (``NNNN_slug.py``); Alembic loads them by path."""
