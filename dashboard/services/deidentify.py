"""De-identification of what a researcher sees and downloads (issue #5; issue #6 extends it).

Rules, applied to every frame of the cohort view and to every download:

- **Patient id** → a stable pseudonym: ``P-`` and the first 12 hex digits of
  HMAC-SHA256(key, patient_id). The same key gives the same pseudonym in every view and export of
  the same database; another key gives unrelated ones. Nobody without the key can link a
  pseudonym back to a study id.
- **The key** comes from the environment variable ``CARTWATCH_PSEUDONYM_KEY`` (set it, and keep it
  secret, in any real deployment, the same on every app process of one trial). When it is unset,
  the database's own key: 32 random bytes made when the database was created (migration 0004,
  table ``installation_secrets``), never in the repository and never shown, so pseudonyms stay
  stable for the life of the database and a different database gets an unrelated key. Anyone who
  can read that table (a database administrator, who can read the study ids anyway) can
  recompute the pseudonyms; a researcher cannot. (Until 2026-12-03 the default was derived from
  the first audit entry, which was guessable from its time stamp.) The manifest names the key
  source and a key id (a short hash of the key, which does not reveal it) so that two exports
  can be checked to share a key.
- **Dates and times** → study day relative to the infusion (day 0 = the calendar day of the
  infusion, fractional days where a time inside the day matters). No calendar date leaves.
- **Free text** (correction and withdrawal reasons, grade reasons, notes) → dropped; where a reason
  matters the rule id stands for it.
- **Sites** → the site id only, never the site name.
- **Date of birth** → dropped (age in years is kept).
- **Ages of 90 and over** → 90, one category meaning "90 or older" (:data:`AGE_TOP_CODE`): the
  HIPAA Safe Harbor method removes "all ages over 89 ... except that such ages ... may be
  aggregated into a single category of age 90 or older" (45 CFR 164.514(b)(2)(i)(C)); in a
  small rare-disease trial an exact very old age can single a patient out. Ages are top-coded in
  the cohort view, Table 1 and every export (an age of 89 stays 89).

Every de-identified output carries :func:`manifest`: what was removed and how.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from dashboard.store.schema import InstallationSecret

KEY_ENV = "CARTWATCH_PSEUDONYM_KEY"
SCHEME = "cartwatch-deid-1"
PREFIX = "P-"
DIGITS = 12
#: The row of ``installation_secrets`` holding the default key (migration 0004).
DEFAULT_KEY_NAME = "pseudonym_key"

#: What each de-identified output removed, and how (the manifest's "removed" part).
RULES: dict[str, str] = {
    "patient_id": "replaced by pseudonym (HMAC-SHA256 of the study id, keyed; 12 hex digits)",
    "dates and times": "replaced by study day (day 0 = calendar day of the infusion)",
    "date_of_birth": "dropped (age in years kept)",
    "ages 90 and over": "reported as 90, meaning 90 or older (HIPAA Safe Harbor)",
    "free text": "dropped (correction and withdrawal reasons, grade reasons, notes)",
    "site names": "dropped (site id kept)",
    "entered_by / user names": "dropped",
}


#: An age at or above this leaves as this value, meaning "this age or older" (module docstring).
AGE_TOP_CODE = 90


def top_code_ages(patients: pd.DataFrame) -> pd.DataFrame:
    """``patients`` with ``age_years`` of :data:`AGE_TOP_CODE` or more replaced by it (a blank
    age stays blank); the frame passed in is not changed."""
    out = patients.copy()
    age = pd.to_numeric(out["age_years"], errors="coerce")
    old = (age >= AGE_TOP_CODE).fillna(False).astype(bool)  # a blank age (NaN or NA) is not old
    out["age_years"] = out["age_years"].mask(old, AGE_TOP_CODE)
    return out


@dataclass(frozen=True)
class PseudonymKey:
    """The HMAC key and where it came from (``environment`` or ``database default``)."""

    secret: bytes
    source: str

    @property
    def key_id(self) -> str:
        """A short fingerprint of the key, safe to show (it does not reveal the key)."""
        return hashlib.sha256(b"cartwatch-key-id:" + self.secret).hexdigest()[:8]


def pseudonym_key(session: Session, environ: Mapping[str, str] | None = None) -> PseudonymKey:
    """The key from ``CARTWATCH_PSEUDONYM_KEY``, else the per-database default (module docstring)."""
    env = os.environ if environ is None else environ
    value = env.get(KEY_ENV, "")
    if value:
        return PseudonymKey(value.encode("utf-8"), "environment (CARTWATCH_PSEUDONYM_KEY)")
    stored = None
    if inspect(session.connection()).has_table(InstallationSecret.__tablename__):
        stored = session.execute(
            select(InstallationSecret.value).where(InstallationSecret.name == DEFAULT_KEY_NAME)
        ).scalar_one_or_none()
    if stored is None:  # a database not upgraded to 0004: no key to rely on, so no export
        raise RuntimeError(
            f"this database has no pseudonym key: run `cartwatch db upgrade` or set {KEY_ENV}"
        )
    return PseudonymKey(bytes.fromhex(stored), "database default (random, made with the database)")


def pseudonym(patient_id: str, key: PseudonymKey) -> str:
    """The stable pseudonym of one study id under ``key``."""
    digest = hmac.new(key.secret, patient_id.encode("utf-8"), hashlib.sha256).hexdigest()
    return PREFIX + digest[:DIGITS]


def pseudonyms(patient_ids: Iterable[str], key: PseudonymKey) -> dict[str, str]:
    """Study id → pseudonym; refuses a (vanishingly unlikely) collision rather than merge two."""
    out = {pid: pseudonym(pid, key) for pid in dict.fromkeys(patient_ids)}
    if len(set(out.values())) != len(out):
        raise ValueError("two patients share a pseudonym: use a longer pseudonym")
    return out


def study_days(at: pd.Series, infusion: pd.Series) -> pd.Series:
    """Fractional days since the infusion instant (the infusion itself is 0.0)."""
    delta = pd.to_datetime(at) - pd.to_datetime(infusion)
    return (delta.dt.total_seconds() / 86_400).round(2)


def manifest(key: PseudonymKey, **extra: str) -> dict[str, str]:
    """What was removed and how, with the key's source and id; ``extra`` adds output-specific
    entries (for example the filters applied)."""
    out = {"scheme": SCHEME, "pseudonym key source": key.source, "pseudonym key id": key.key_id}
    out.update({f"removed: {name}": how for name, how in RULES.items()})
    out.update(extra)
    return out


def manifest_comment(entries: Mapping[str, str]) -> str:
    """The manifest as ``# name: value`` lines, to head a CSV (read with ``comment="#"``)."""
    return "".join(f"# {name}: {value}\n" for name, value in entries.items())


def leaks(
    text: str,
    patient_ids: Iterable[str],
    instants: Iterable[datetime | date],
    free_texts: Iterable[str] = (),
) -> list[str]:
    """Identifiers found in ``text``: study ids, calendar dates (ISO ``YYYY-MM-DD`` of the
    given instants) and free text. Empty when the text is clean; issue #6 runs it on every format.
    """
    found = [pid for pid in set(patient_ids) if pid and pid in text]
    days = {(i.date() if isinstance(i, datetime) else i).isoformat() for i in instants}
    found += sorted(day for day in days if day in text)
    found += [t for t in set(free_texts) if t and t.strip() and t in text]
    return found
