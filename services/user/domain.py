"""What a user is and the rules that govern changes to one. Standard library only
(plus the pure error vocabulary in protomesh.errors).

Each command returns the new user and the fact other contexts hear about
(`UserRegistered`, `UserProfileChanged`), or None when nothing changed. Every
change bumps `version`, which is also the per-user sequence of those events
(registration is 0).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from protomesh.errors import AlreadyExists, FailedPrecondition, NotFound, ResourceExhausted


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


class EmailAlreadyVerified(FailedPrecondition):
    def __init__(self) -> None:
        super().__init__("the user's email is already verified", subject="email", kind="VERIFIED")


class VerificationCodeMissing(FailedPrecondition):
    def __init__(self) -> None:
        super().__init__(
            "no verification code was sent to this user; request one first",
            subject="code",
            kind="NO_CODE",
        )


class VerificationCodeExpired(FailedPrecondition):
    def __init__(self) -> None:
        super().__init__(
            "the verification code has expired; request a new one", subject="code", kind="EXPIRED"
        )


class VerificationCodeUsed(FailedPrecondition):
    def __init__(self) -> None:
        super().__init__(
            "the verification code was already used; request a new one",
            subject="code",
            kind="USED",
        )


class VerificationCodeBurned(FailedPrecondition):
    def __init__(self) -> None:
        super().__init__(
            f"the verification code was entered wrong {MAX_CODE_ATTEMPTS} times and no longer"
            " works; request a new one",
            subject="code",
            kind="TOO_MANY_ATTEMPTS",
        )


class VerificationCodeWrong(FailedPrecondition):
    def __init__(self, attempts_left: int) -> None:
        super().__init__(
            f"the verification code is wrong; {attempts_left} attempt(s) left",
            subject="code",
            kind="WRONG_CODE",
        )
        self.attempts_left = attempts_left


class VerificationSendsExhausted(ResourceExhausted):
    def __init__(self, retry_after: float) -> None:
        super().__init__(
            f"at most {MAX_SENDS_PER_WINDOW} verification emails per user per hour",
            retry_after=retry_after,
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


# How a verification code is made, kept and spent. A code proves control of the
# address only while it is short-lived, single-use and hard to guess online
# (5 tries at 1 in 10^6) and stored where a reader of the database cannot use it.
CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=10)
MAX_CODE_ATTEMPTS = 5
MAX_SENDS_PER_WINDOW = 5
SEND_WINDOW = timedelta(hours=1)
# scrypt, not one SHA-256: a million candidate codes then cost hours of CPU, far
# longer than a code lives, so a leaked table does not yield live codes.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def hash_code(code: str, salt: bytes) -> bytes:
    """CPU-bound (tens of milliseconds): callers on an event loop run it in a thread."""
    return hashlib.scrypt(code.encode(), salt=salt, **_SCRYPT)


@dataclass(frozen=True)
class EmailVerification:
    """The one code a user may currently verify with, and the user's send budget.

    Only the code's salted hash is kept. A new code replaces the previous one;
    the code is bound to the address (its key) it was sent to.
    """

    user_id: uuid.UUID
    email_key: str
    code_hash: bytes
    salt: bytes
    expires_at: datetime
    failed_attempts: int
    used: bool
    window_started_at: datetime
    sends_in_window: int

    @classmethod
    def issue(
        cls,
        user: User,
        previous: EmailVerification | None,
        code_hash: bytes,
        salt: bytes,
        now: datetime,
    ) -> EmailVerification:
        """A fresh code for the user's current address, within the send budget."""
        if user.email_verified:
            raise EmailAlreadyVerified()
        window_start, sends = now, 0
        if previous is not None and now - previous.window_started_at < SEND_WINDOW:
            window_start, sends = previous.window_started_at, previous.sends_in_window
        if sends >= MAX_SENDS_PER_WINDOW:
            raise VerificationSendsExhausted((window_start + SEND_WINDOW - now).total_seconds())
        return cls(
            user_id=user.id,
            email_key=email_key(user.email),
            code_hash=code_hash,
            salt=salt,
            expires_at=now + CODE_LIFETIME,
            failed_attempts=0,
            used=False,
            window_started_at=window_start,
            sends_in_window=sends + 1,
        )

    def check(self, user: User, code_hash: bytes, now: datetime) -> EmailVerification:
        """The code, spent, when `code_hash` is this code's for this address.

        Raises VerificationCodeWrong for another code: the caller records the
        failed attempt (`failed_attempt`) even though the call fails.
        """
        if self.used:
            raise VerificationCodeUsed()
        if email_key(user.email) != self.email_key:
            raise EmailChangedSinceVerification()
        if now >= self.expires_at:
            raise VerificationCodeExpired()
        if self.failed_attempts >= MAX_CODE_ATTEMPTS:
            raise VerificationCodeBurned()
        if not hmac.compare_digest(code_hash, self.code_hash):
            raise VerificationCodeWrong(MAX_CODE_ATTEMPTS - self.failed_attempts - 1)
        return dataclasses.replace(self, used=True)

    def failed_attempt(self) -> EmailVerification:
        return dataclasses.replace(self, failed_attempts=self.failed_attempts + 1)


def verify_with_code(
    user: User, verification: EmailVerification | None, code_hash: bytes, now: datetime
) -> tuple[User, UserProfileChanged | None, EmailVerification]:
    """Verify the user's address with the code sent to it; the code is spent."""
    if verification is None:
        raise VerificationCodeMissing()
    spent = verification.check(user, code_hash, now)
    verified, changed = user.verify(user.email, now)
    return verified, changed, spent
