"""What a user is and the rules that govern changes to one. Standard library only
(plus the pure error vocabulary in protomesh.errors).

Each command returns the new user and the fact other contexts hear about
(`UserRegistered`, `UserProfileChanged`), or None when nothing changed. Every
change bumps `version`, which is also the per-user sequence of those events
(registration is 0).
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime

from protomesh.errors import AlreadyExists, FailedPrecondition, NotFound


class UserNotFound(NotFound):
    def __init__(self, user_id: uuid.UUID | str) -> None:
        super().__init__("user", str(user_id))


class EmailAlreadyTaken(AlreadyExists):
    def __init__(self, email: str) -> None:
        super().__init__("email", email, f"a user with email {email!r} already exists")


class EmailChangedSinceVerification(FailedPrecondition):
    def __init__(self) -> None:
        super().__init__(
            "the user's email changed after this verification was sent; verify the new address",
            subject="email",
            kind="EMAIL_CHANGED",
        )


def email_key(email: str) -> str:
    """Emails are unique case-insensitively: `Ada@Example.com` and `ada@example.com` clash."""
    return email.strip().lower()


def join_name(given_name: str, family_name: str) -> str:
    return f"{given_name.strip()} {family_name.strip()}".strip()


@dataclass(frozen=True)
class UserRegistered:
    user_id: uuid.UUID
    email: str
    display_name: str
    at: datetime
    version: int  # the user's version this event leaves it at: its place in the user's history


@dataclass(frozen=True)
class UserProfileChanged:
    """The profile as it is after the change, not a diff: consumers keep copies."""

    user_id: uuid.UUID
    email: str
    display_name: str
    email_verified: bool
    at: datetime
    version: int


Event = UserRegistered | UserProfileChanged


@dataclass(frozen=True)
class User:
    id: uuid.UUID
    email: str
    display_name: str
    given_name: str
    family_name: str
    email_verified: bool
    created_at: datetime
    updated_at: datetime
    version: int = 0

    @classmethod
    def register(
        cls,
        *,
        email: str,
        now: datetime,
        display_name: str = "",
        given_name: str = "",
        family_name: str = "",
    ) -> tuple[User, UserRegistered]:
        """A new, unverified user. A structured name also sets the display name."""
        if given_name:
            display_name = join_name(given_name, family_name)
        user = cls(
            id=uuid.uuid4(),
            email=email.strip(),
            display_name=display_name.strip(),
            given_name=given_name.strip(),
            family_name=family_name.strip(),
            email_verified=False,
            created_at=now,
            updated_at=now,
        )
        return user, UserRegistered(user.id, user.email, user.display_name, now, user.version)

    def update(
        self,
        now: datetime,
        *,
        email: str | None = None,
        display_name: str | None = None,
        given_name: str | None = None,
        family_name: str | None = None,
    ) -> tuple[User, UserProfileChanged | None]:
        """Change what is given: a structured name wins over a bare display name."""
        user = self
        if email is not None:
            user = user.change_email(email, now)
        if given_name is not None:
            user = user.rename_structured(given_name, family_name or "", now)
        elif display_name is not None:
            user = user.rename(display_name, now)
        return self._changed_to(user)

    def verify(self, verified_email: str, now: datetime) -> tuple[User, UserProfileChanged | None]:
        return self._changed_to(self.verify_email(verified_email, now))

    def _changed_to(self, user: User) -> tuple[User, UserProfileChanged | None]:
        if user == self:
            return self, None
        changed = dataclasses.replace(user, version=self.version + 1)
        return changed, UserProfileChanged(
            changed.id,
            changed.email,
            changed.display_name,
            changed.email_verified,
            changed.updated_at,
            changed.version,
        )

    def change_email(self, email: str, now: datetime) -> User:
        """A new address has not been proven yet, so verification starts over."""
        email = email.strip()
        if email_key(email) == email_key(self.email):
            return dataclasses.replace(self, email=email, updated_at=now)
        return dataclasses.replace(self, email=email, email_verified=False, updated_at=now)

    def rename(self, display_name: str, now: datetime) -> User:
        """v1 clients set a display name only; the structured name is left as it was."""
        return dataclasses.replace(self, display_name=display_name.strip(), updated_at=now)

    def rename_structured(self, given_name: str, family_name: str, now: datetime) -> User:
        return dataclasses.replace(
            self,
            given_name=given_name.strip(),
            family_name=family_name.strip(),
            display_name=join_name(given_name, family_name),
            updated_at=now,
        )

    def verify_email(self, verified_email: str, now: datetime) -> User:
        """Only the address the verification was sent to can be verified."""
        if email_key(verified_email) != email_key(self.email):
            raise EmailChangedSinceVerification()
        if self.email_verified:
            return self
        return dataclasses.replace(self, email_verified=True, updated_at=now)
