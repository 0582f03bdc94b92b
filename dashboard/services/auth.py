"""Sign-in for the dashboard, without Streamlit: local accounts, OpenID Connect, idle timeout.

- Local accounts (the embedded default): username and argon2-hashed password
  (:meth:`dashboard.store.people.PeopleRepository.authenticate`). Every attempt is audited, failed
  ones included, without the password.
- OpenID Connect (``st.login``, when ``[auth]`` is configured in ``.streamlit/secrets.toml``): the
  provider's identity is mapped to an active cartwatch user by the e-mail the provider vouches for
  (:func:`oidc_actor`). The token's ``exp`` claim is checked on every page: an expired identity
  token signs the user out, whatever the cookie says.
- Idle sessions time out after :data:`IDLE_TIMEOUT` without a page interaction (:func:`idle`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from dashboard.store import audit
from dashboard.store.access import SYSTEM, Actor
from dashboard.store.people import PeopleRepository
from dashboard.store.schema import User
from dashboard.store.unit_of_work import UnitOfWork

#: Signed out after this long without any interaction (``CARTWATCH_IDLE_MINUTES`` overrides it).
IDLE_TIMEOUT = timedelta(minutes=float(os.environ.get("CARTWATCH_IDLE_MINUTES", "15")))


class SignInError(Exception):
    """Why a sign-in was refused, in words for the person signing in."""


def sign_in(engine: Engine, username: str, password: str) -> Actor:
    """The user's :class:`Actor`; :class:`SignInError` names no detail an attacker could use."""
    username = username.strip()
    if not username or not password:
        raise SignInError("Enter your username and password.")
    with UnitOfWork(engine, SYSTEM) as uow:
        actor = uow.people.authenticate(username, password)
        audit.append(uow.session, username, "sign_in" if actor else "sign_in_refused", "user",
                     username, {"method": "password"})  # fmt: skip
        uow.commit()
    if actor is None:
        raise SignInError("Unknown username or wrong password, or the account is inactive.")
    return actor


def oidc_actor(engine: Engine, claims: Mapping[str, object], now: datetime | None = None) -> Actor:
    """The cartwatch user the provider's identity maps to.

    Refused when the token has expired (``exp``, seconds since the epoch), when the provider did not
    verify the e-mail (``email_verified`` false), or when no active user has that e-mail.
    """
    moment = now or datetime.now(UTC)
    expires = claims.get("exp")
    if not isinstance(expires, int | float):
        raise SignInError("The identity provider's token carries no expiry; sign in again.")
    if datetime.fromtimestamp(expires, UTC) <= moment:
        raise SignInError("Your sign-in has expired; sign in again.")
    if claims.get("email_verified") is False:
        raise SignInError("The identity provider has not verified your e-mail address.")
    email = str(claims.get("email") or "").strip().lower()
    if not email:
        raise SignInError("The identity provider sent no e-mail address.")
    with UnitOfWork(engine, SYSTEM) as uow:
        user = uow.session.execute(select(User).where(User.email == email)).scalar()
        if user is None or not user.active:
            audit.append(uow.session, email, "sign_in_refused", "user", email, {"method": "oidc"})
            uow.commit()
            raise SignInError(f"No active cartwatch account is linked to {email}; ask an admin.")
        actor = PeopleRepository(uow.session, SYSTEM).actor_for(user)
        audit.append(uow.session, user.username, "sign_in", "user", user.username,
                     {"method": "oidc"})  # fmt: skip
        uow.commit()
    return actor


def idle(last_seen: datetime | None, now: datetime, timeout: timedelta = IDLE_TIMEOUT) -> bool:
    """True when the session has been idle for ``timeout`` or longer."""
    return last_seen is not None and now - last_seen >= timeout
