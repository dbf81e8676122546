"""Users in the service's own schema, through asyncpg.

`PostgresUserReader` reads committed users from the pool. A change runs in a
`PostgresUserUnitOfWork`: one transaction (protomesh.db.unit_of_work) holding
the user row, written by `PostgresUserRepository` on the unit's connection,
its event in the outbox (UserRegistered, UserProfileChanged) and, for an
idempotent call, the key and its reply. `PostgresEmailVerificationRepository`
keeps each user's current verification code (hashed) on the same connection.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from protomesh.db.unit_of_work import OutboxRecord, PostgresUnitOfWork
from protomesh.idempotency.calls import IdempotentReply
from services.user.domain import EmailAlreadyTaken, EmailVerification, Event, User, email_key
from services.user.events import AGGREGATE_TYPE, to_event
from services.user.handlers import PagePosition

_COLUMNS = (
    "id, email, display_name, given_name, family_name, email_verified, created_at, updated_at,"
    " event_sequence"
)
_EMAIL_UNIQUE = "users_email_key_unique"


def _to_user(row: asyncpg.Record) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        display_name=row["display_name"],
        given_name=row["given_name"],
        family_name=row["family_name"],
        email_verified=row["email_verified"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version=row["event_sequence"],
    )


def outbox_record(event: Event) -> OutboxRecord:
    """The user's version after the event is the event's per-user sequence."""
    return OutboxRecord(AGGREGATE_TYPE, str(event.user_id), event.version, to_event(event))


class PostgresUserReader:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, user_id: uuid.UUID) -> User | None:
        row = await self._pool.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE id = $1", user_id)
        return None if row is None else _to_user(row)

    async def page(
        self, *, after: PagePosition | None, limit: int, email_verified: bool | None
    ) -> list[User]:
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM users"
            " WHERE ($1::timestamptz IS NULL OR (created_at, id) > ($1, $2::uuid))"
            "   AND ($3::boolean IS NULL OR email_verified = $3)"
            " ORDER BY created_at, id LIMIT $4",
            after.created_at if after else None,
            after.user_id if after else None,
            email_verified,
            limit,
        )
        return [_to_user(row) for row in rows]


class PostgresUserRepository:
    """Users on a unit of work's connection, inside its transaction."""

    def __init__(self, connection: asyncpg.pool.PoolConnectionProxy) -> None:
        self._connection = connection

    async def get_for_update(self, user_id: uuid.UUID) -> User | None:
        row = await self._connection.fetchrow(
            f"SELECT {_COLUMNS} FROM users WHERE id = $1 FOR UPDATE", user_id
        )
        return None if row is None else _to_user(row)

    async def add(self, user: User) -> None:
        await self._write(
            user,
            f"INSERT INTO users ({_COLUMNS}, email_key)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            user.created_at,
        )

    async def save(self, user: User) -> None:
        await self._write(
            user,
            "UPDATE users SET email = $2, display_name = $3, given_name = $4, family_name = $5,"
            " email_verified = $6, updated_at = $7, event_sequence = $8, email_key = $9"
            " WHERE id = $1",
        )

    async def _write(self, user: User, statement: str, *created_at: datetime) -> None:
        """One INSERT or UPDATE of every column; `created_at` only when inserting."""
        try:
            await self._connection.execute(
                statement,
                user.id,
                user.email,
                user.display_name,
                user.given_name,
                user.family_name,
                user.email_verified,
                *created_at,
                user.updated_at,
                user.version,
                email_key(user.email),
            )
        except asyncpg.UniqueViolationError as error:
            if error.constraint_name == _EMAIL_UNIQUE:
                raise EmailAlreadyTaken(user.email) from None
            raise


_VERIFICATION_COLUMNS = (
    "user_id, email_key, code_hash, salt, expires_at, failed_attempts, used,"
    " window_started_at, sends_in_window"
)


class PostgresEmailVerificationRepository:
    """Verification codes on a unit of work's connection, inside its transaction."""

    def __init__(self, connection: asyncpg.pool.PoolConnectionProxy) -> None:
        self._connection = connection

    async def get_for_update(self, user_id: uuid.UUID) -> EmailVerification | None:
        row = await self._connection.fetchrow(
            f"SELECT {_VERIFICATION_COLUMNS} FROM email_verifications"
            " WHERE user_id = $1 FOR UPDATE",
            user_id,
        )
        return None if row is None else EmailVerification(**dict(row))

    async def save(self, verification: EmailVerification) -> None:
        """Insert or replace the user's one verification."""
        await self._connection.execute(
            f"INSERT INTO email_verifications ({_VERIFICATION_COLUMNS})"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            " ON CONFLICT (user_id) DO UPDATE SET email_key = $2, code_hash = $3, salt = $4,"
            " expires_at = $5, failed_attempts = $6, used = $7, window_started_at = $8,"
            " sends_in_window = $9",
            verification.user_id,
            verification.email_key,
            verification.code_hash,
            verification.salt,
            verification.expires_at,
            verification.failed_attempts,
            verification.used,
            verification.window_started_at,
            verification.sends_in_window,
        )


class PostgresUserUnitOfWork(PostgresUnitOfWork[Event, User]):
    def __init__(
        self, pool: asyncpg.Pool, reply: IdempotentReply[User] | None, *, retention: float
    ) -> None:
        super().__init__(pool, to_outbox=outbox_record, reply=reply, retention=retention)

    @property
    def users(self) -> PostgresUserRepository:
        return PostgresUserRepository(self.connection)

    @property
    def verifications(self) -> PostgresEmailVerificationRepository:
        return PostgresEmailVerificationRepository(self.connection)
