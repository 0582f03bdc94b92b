"""Sites, users, memberships and patients (enrolment)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.store import audit
from dashboard.store.access import Actor, Role
from dashboard.store.errors import AccessDeniedError, InvalidRecordError, NotFoundError
from dashboard.store.passwords import check_password, hash_password, needs_rehash
from dashboard.store.schema import Membership, Patient, Site, User
from grading.records import Patient as PatientRecord


class PeopleRepository:
    """Sites and users: only admins manage them; anyone may sign in."""

    def __init__(self, session: Session, actor: Actor) -> None:
        self.session, self.actor = session, actor

    def add_site(self, site_id: str, name: str) -> None:
        self.actor.require_admin()
        self.session.add(Site(site_id=site_id, name=name))
        audit.append(self.session, self.actor.username, "create", "site", site_id, {"name": name})

    def add_user(self, username: str, role: Role, password: str, site_ids: list[str]) -> Actor:
        self.actor.require_admin()
        if self.session.execute(select(User).where(User.username == username)).first():
            raise InvalidRecordError([f"username {username!r} is taken"])
        user = User(username=username, role=role.value, password_hash=hash_password(password),
                    active=True, created_at=datetime.now(UTC))  # fmt: skip
        self.session.add(user)
        self.session.flush()
        for site_id in site_ids:
            if self.session.get(Site, site_id) is None:
                raise NotFoundError(f"no site {site_id}")
            self.session.add(Membership(user_id=user.user_id, site_id=site_id))
        audit.append(self.session, self.actor.username, "create", "user", username,
                     {"role": role.value, "sites": sorted(site_ids)})  # fmt: skip
        self.session.flush()
        return self.actor_for(user)

    def deactivate(self, username: str, reason: str) -> None:
        self.actor.require_admin()
        user = self._user(username)
        user.active = False
        audit.append(self.session, self.actor.username, "deactivate", "user", username,
                     {"reason": reason})  # fmt: skip

    def authenticate(self, username: str, password: str) -> Actor | None:
        """The user's :class:`Actor` when the password matches an active account, else None."""
        user = self.session.execute(select(User).where(User.username == username)).scalar()
        if user is None or not user.active or not check_password(user.password_hash, password):
            return None
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        return self.actor_for(user)

    def actor_for(self, user: User) -> Actor:
        sites = self.session.execute(
            select(Membership.site_id).where(Membership.user_id == user.user_id)
        ).scalars()
        return Actor(user_id=user.user_id, username=user.username, role=Role(user.role),
                     site_ids=frozenset(sites))  # fmt: skip

    def sites(self) -> list[tuple[str, str]]:
        rows = self.session.execute(select(Site).order_by(Site.site_id)).scalars()
        return [(s.site_id, s.name) for s in rows if self._visible(s.site_id)]

    def users(self) -> list[dict[str, object]]:
        self.actor.require_admin()
        out = []
        for user in self.session.execute(select(User).order_by(User.username)).scalars():
            actor = self.actor_for(user)
            out.append({"username": user.username, "role": user.role, "active": user.active,
                        "sites": sorted(actor.site_ids)})  # fmt: skip
        return out

    def _visible(self, site_id: str) -> bool:
        return self.actor.role is Role.ADMIN or site_id in self.actor.site_ids

    def _user(self, username: str) -> User:
        user = self.session.execute(select(User).where(User.username == username)).scalar()
        if user is None:
            raise NotFoundError(f"no user {username}")
        return user


class PatientRepository:
    """Patients of the acting user's sites."""

    def __init__(self, session: Session, actor: Actor) -> None:
        self.session, self.actor = session, actor

    def add(self, patient: PatientRecord) -> PatientRecord:
        if self.actor.role not in (Role.NURSE, Role.PHYSICIAN, Role.ADMIN):
            raise AccessDeniedError(f"{self.actor.username} cannot enrol patients")
        self.actor.require_site(patient.site_id)
        if self.session.get(Patient, patient.patient_id) is not None:
            raise InvalidRecordError([f"patient {patient.patient_id} already exists"])
        values = patient.model_dump(mode="python")
        values = {k: (v.value if hasattr(v, "value") else v) for k, v in values.items()}
        self.session.add(Patient(**values, created_by=self.actor.user_id,
                                 created_at=datetime.now(UTC)))  # fmt: skip
        audit.append(self.session, self.actor.username, "create", "patient", patient.patient_id,
                     {"new": values})  # fmt: skip
        self.session.flush()
        return patient

    def get(self, patient_id: str) -> PatientRecord:
        row = self.session.get(Patient, patient_id)
        if row is None:
            raise NotFoundError(f"no patient {patient_id}")
        self.actor.require_site(row.site_id)
        return self._model(row)

    def visible(self) -> list[PatientRecord]:
        query = select(Patient).order_by(Patient.site_id, Patient.patient_id)
        if self.actor.role is not Role.ADMIN:
            query = query.where(Patient.site_id.in_(self.actor.site_ids))
        return [self._model(row) for row in self.session.execute(query).scalars()]

    @staticmethod
    def _model(row: Patient) -> PatientRecord:
        fields = PatientRecord.model_fields
        values = {name: getattr(row, name) for name in fields}
        return PatientRecord.model_validate({k: v for k, v in values.items() if v is not None})
