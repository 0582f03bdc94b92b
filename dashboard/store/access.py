"""Who is acting: every repository call takes an :class:`Actor` and checks role and sites."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from dashboard.store.errors import AccessDeniedError


class Role(StrEnum):
    NURSE = "nurse"
    PHYSICIAN = "physician"
    RESEARCHER = "researcher"
    ADMIN = "admin"


class Actor(BaseModel):
    """The signed-in user as the store sees them."""

    model_config = ConfigDict(frozen=True)

    user_id: int
    username: str
    role: Role
    site_ids: frozenset[str]

    def require_site(self, site_id: str) -> None:
        """Read access: a user sees only patients of their own sites (admins: every site)."""
        if self.role is not Role.ADMIN and site_id not in self.site_ids:
            raise AccessDeniedError(f"{self.username} has no access to site {site_id}")

    def require_write(self, site_id: str) -> None:
        """Clinical writes: nurses and physicians of the site. Researchers only read."""
        if self.role not in (Role.NURSE, Role.PHYSICIAN):
            raise AccessDeniedError(f"{self.username} ({self.role.value}) cannot enter data")
        self.require_site(site_id)

    def require_admin(self) -> None:
        if self.role is not Role.ADMIN:
            raise AccessDeniedError(f"{self.username} is not an administrator")


#: The identity the store uses for its own work (migrations, loading the sample, re-grading).
SYSTEM = Actor(user_id=0, username="system", role=Role.ADMIN, site_ids=frozenset())
