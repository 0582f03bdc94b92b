"""Server-side drafts: a form being typed survives a dropped connection or a closed tab.

A Streamlit session loses its state when the websocket drops, so the form's values are saved here
as the user types and loaded back when the page opens again. Drafts are not clinical records: they
are overwritten in place, never audited, never graded and never shown to anyone but their owner
(another user's load finds nothing). One draft per user, patient and form.

Access: the user must have access to the patient's site for every call (a user moved off a site
can no longer read their drafts there). Whether the user may *submit* the form is checked when it
is submitted, not here.

Values are stored as JSON: dates and times come back as ISO 8601 strings, and the form validates
them again on submit like any other input.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic_core import PydanticSerializationError, to_jsonable_python
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dashboard.store.access import Actor
from dashboard.store.errors import InvalidRecordError, NotFoundError
from dashboard.store.schema import DraftRow, Patient

FORM_LENGTH = 40  # DraftRow.form


class DraftRepository:
    """The acting user's own drafts."""

    def __init__(self, session: Session, actor: Actor) -> None:
        self.session, self.actor = session, actor

    def save(self, patient_id: str, form: str, values: dict[str, Any]) -> None:
        """Create or overwrite the user's draft of ``form`` for the patient."""
        self._check(patient_id, form)
        try:
            stored = to_jsonable_python(values)
        except PydanticSerializationError as error:
            raise InvalidRecordError([f"draft values cannot be stored: {error}"]) from None
        now = datetime.now(UTC)
        draft = self._find(patient_id, form)
        if draft is not None:
            draft.values, draft.updated_at = stored, now
            self.session.flush()
            return
        try:
            with self.session.begin_nested():  # another tab may create the same draft meanwhile
                self.session.add(
                    DraftRow(
                        user_id=self.actor.user_id,
                        patient_id=patient_id,
                        form=form,
                        values=stored,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            draft = self._find(patient_id, form)
            if draft is None:
                raise
            draft.values, draft.updated_at = stored, now
            self.session.flush()

    def load(self, patient_id: str, form: str) -> dict[str, Any] | None:
        """The user's draft values, or None when there is none."""
        self._check(patient_id, form)
        draft = self._find(patient_id, form)
        return dict(draft.values) if draft is not None else None

    def discard(self, patient_id: str, form: str) -> bool:
        """Delete the user's draft (after submitting or cancelling); True if there was one."""
        self._check(patient_id, form)
        draft = self._find(patient_id, form)
        if draft is None:
            return False
        self.session.delete(draft)
        self.session.flush()
        return True

    def _check(self, patient_id: str, form: str) -> None:
        if not form or len(form) > FORM_LENGTH:
            raise InvalidRecordError([f"form name must be 1-{FORM_LENGTH} characters: {form!r}"])
        patient = self.session.get(Patient, patient_id)
        if patient is None:
            raise NotFoundError(f"no patient {patient_id}")
        self.actor.require_site(patient.site_id)

    def _find(self, patient_id: str, form: str) -> DraftRow | None:
        return self.session.execute(
            select(DraftRow).where(
                DraftRow.user_id == self.actor.user_id,
                DraftRow.patient_id == patient_id,
                DraftRow.form == form,
            )
        ).scalar_one_or_none()
