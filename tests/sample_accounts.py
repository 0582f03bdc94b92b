"""Signing in as the sample's demo accounts, the way the app signs in (tests only)."""

from __future__ import annotations

from sqlalchemy import Engine

from dashboard.services.auth import sign_in
from dashboard.store.access import Actor


def demo(engine: Engine, username: str) -> Actor:
    """A demo account of the sample (password ``<username>-demo``)."""
    return sign_in(engine, username, f"{username}-demo")
