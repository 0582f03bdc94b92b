"""Load the shipped synthetic cohort (``sample_data/cohort``: 40 patients, entirely synthetic) with
demo sites and demo accounts, for demonstrations and tests (``cartwatch load-sample``).

**Demo only.** The accounts below have published passwords of the form ``<username>-demo``. They
exist so that a demonstration, a browser test or a new developer can sign in at once; they must
never exist in a real deployment. As a guard, :func:`load_sample` refuses a database that holds
any user or patient that is not part of the sample.

==================  ==========  ==================  ====================
username            role        sites               password
==================  ==========  ==================  ====================
nurse-s01 ... s05   nurse       its own site        nurse-s01-demo ...
physician-s01 ...   physician   its own site        physician-s01-demo ...
researcher          researcher  every sample site   researcher-demo
admin               admin       (administrator)     admin-demo
==================  ==========  ==================  ====================

The sites are those of ``patients.csv`` (S01-S05), named "Sample site S01" and so on. The
patients, assessments, lab results, drug administrations and outcome events (``events.csv``:
deaths and re-treatments) go through :func:`dashboard.store.importer.import_into` exactly as a
user's files would: each file is split by site in memory and imported by that site's demo nurse,
so every record names who entered it and carries ``source = import:<hash>``. A site's files go in
one transaction, so each patient is graded once, from the whole course. Infections and LICATS
events have no table yet and are not loaded.

Running it again stores nothing twice and does not fail: existing sites and accounts are kept
(passwords untouched) and each import skips the rows already stored. Each site is its own
transaction, so an interrupted load is completed by running it again.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from sqlalchemy import Engine, select

import sample_data
from dashboard.store.access import SYSTEM, Actor, Role
from dashboard.store.errors import StoreError
from dashboard.store.importer import KINDS, ImportKind, import_into
from dashboard.store.schema import Patient, User
from dashboard.store.unit_of_work import UnitOfWork

COHORT = Path(sample_data.__file__).parent / "cohort"


class NotADemoDatabaseError(StoreError):
    """The database holds users or patients that are not part of the sample: demo accounts with
    published passwords are never added to it."""


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str  # published: demo only
    role: Role
    site_ids: tuple[str, ...]


class SampleLoad(TypedDict):
    sites: list[str]
    accounts: list[DemoAccount]
    stored: dict[ImportKind, int]
    skipped: dict[ImportKind, int]


def demo_accounts(site_ids: list[str]) -> list[DemoAccount]:
    """The demo accounts for these sites (module docstring); passwords are '<username>-demo'."""
    accounts = []
    for site in site_ids:
        for role in (Role.NURSE, Role.PHYSICIAN):
            username = f"{role.value}-{site.lower()}"
            accounts.append(DemoAccount(username, f"{username}-demo", role, (site,)))
    accounts.append(DemoAccount("researcher", "researcher-demo", Role.RESEARCHER, tuple(site_ids)))
    accounts.append(DemoAccount("admin", "admin-demo", Role.ADMIN, ()))
    return accounts


def load_sample(engine: Engine, cohort: Path = COHORT) -> SampleLoad:
    """Create the sample's sites and demo accounts and import its records; safe to run again."""
    texts = {kind: (cohort / f"{kind}.csv").read_text(encoding="utf-8") for kind in KINDS}
    site_of = {row["patient_id"]: row["site_id"] for row in _dict_rows(texts["patients"])}
    site_ids = sorted(set(site_of.values()))
    accounts = demo_accounts(site_ids)
    with UnitOfWork(engine, SYSTEM) as uow:
        _require_demo_database(uow, accounts, set(site_of))
        known_sites = {site_id for site_id, _ in uow.people.sites()}
        for site_id in site_ids:
            if site_id not in known_sites:
                uow.people.add_site(site_id, f"Sample site {site_id}")
        known_users = set(uow.session.execute(select(User.username)).scalars())
        for account in accounts:
            if account.username not in known_users:
                sites = list(account.site_ids)
                uow.people.add_user(account.username, account.role, account.password, sites)
        uow.commit()
        # each site's records are entered by its demo nurse
        nurses = {site_id: _actor(uow, f"nurse-{site_id.lower()}") for site_id in site_ids}
    split = {kind: _split_by_site(texts[kind], site_of) for kind in KINDS}
    stored: dict[ImportKind, int] = dict.fromkeys(KINDS, 0)
    skipped: dict[ImportKind, int] = dict.fromkeys(KINDS, 0)
    for site_id in site_ids:
        with UnitOfWork(engine, nurses[site_id]) as uow:
            stored_here = 0
            for kind in KINDS:
                if site_id not in split[kind]:
                    continue
                name = f"{kind}.csv (sample, site {site_id})"
                report = import_into(uow, kind, io.StringIO(split[kind][site_id]), name=name)
                stored[kind] += report.stored
                skipped[kind] += report.skipped + report.corrected_in_app
                stored_here += report.stored
            if stored_here:  # nothing new: nothing to commit, and no audit entry
                uow.commit()
    return SampleLoad(sites=site_ids, accounts=accounts, stored=stored, skipped=skipped)


def _require_demo_database(
    uow: UnitOfWork, accounts: list[DemoAccount], patient_ids: set[str]
) -> None:
    demo = {account.username for account in accounts}
    users = set(uow.session.execute(select(User.username)).scalars()) - demo
    patients = set(uow.session.execute(select(Patient.patient_id)).scalars()) - patient_ids
    found = [
        f"{what} {', '.join(sorted(names)[:5])}"
        for what, names in (("users", users), ("patients", patients))
        if names
    ]
    if found:
        raise NotADemoDatabaseError(
            "the sample, with its published demo passwords, is loaded only into an empty or demo "
            f"database; this one holds {' and '.join(found)} (first five shown). Point "
            "CARTWATCH_DATABASE_URL at a new database to try the sample."
        )


def _actor(uow: UnitOfWork, username: str) -> Actor:
    user = uow.session.execute(select(User).where(User.username == username)).scalar_one()
    return uow.people.actor_for(user)


def _dict_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _split_by_site(text: str, site_of: dict[str, str]) -> dict[str, str]:
    """The file's rows by the site of their patient (the ``site_id`` column for patients.csv),
    each group with the header: the CSV text each site's nurse imports."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    by_site_column = "site_id" in header
    index = header.index("site_id" if by_site_column else "patient_id")
    groups: dict[str, list[list[str]]] = defaultdict(list)
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        key = row[index] if by_site_column else site_of.get(row[index])
        if key is None:
            raise ValueError(f"the sample has a row for {row[index]}, who is not in patients.csv")
        groups[key].append(row)
    out = {}
    for site_id, rows in sorted(groups.items()):
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        out[site_id] = buffer.getvalue()
    return out
