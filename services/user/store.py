"""PostgresUserStore: the user context's data in its own schema, through asyncpg.

Every change other contexts must hear about writes its event to the outbox in
the same transaction (UserRegistered, UserProfileChanged), then wakes the
relay after the commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import asyncpg

from protomesh.outbox import append_event, notify_relay
from protomesh.telemetry.propagation import inject_headers
from services.user.domain import EmailAlreadyTaken, User, UserNotFound, email_key
from services.user.events import AGGREGATE_TYPE, user_profile_changed, user_registered
from services.user.handlers import PagePosition

_COLUMNS = (
    "id, email, display_name, given_name, family_name, email_verified, created_at, updated_at"
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
    )


class PostgresUserStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def add(self, user: User) -> None:
        async with self._pool.acquire() as connection:
            try:
                async with connection.transaction():
                    await connection.execute(
                        f"INSERT INTO users ({_COLUMNS}, email_key)"
                        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                        user.id,
                        user.email,
                        user.display_name,
                        user.given_name,
                        user.family_name,
                        user.email_verified,
                        user.created_at,
                        user.updated_at,
                        email_key(user.email),
                    )
                    await append_event(
                        connection,
                        aggregate_type=AGGREGATE_TYPE,
                        aggregate_id=str(user.id),
                        sequence=0,
                        event=user_registered(user),
                        headers=inject_headers(),
                    )
            except asyncpg.UniqueViolationError as error:
                if error.constraint_name == _EMAIL_UNIQUE:
                    raise EmailAlreadyTaken(user.email) from None
                raise
            await notify_relay(connection)

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

    async def change(self, user_id: uuid.UUID, apply: Callable[[User], User]) -> User:
        async with self._pool.acquire() as connection:
            async with connection.transaction():
                row = await connection.fetchrow(
                    f"SELECT {_COLUMNS} FROM users WHERE id = $1 FOR UPDATE", user_id
                )
                if row is None:
                    raise UserNotFound(user_id)
                before = _to_user(row)
                after = apply(before)
                if after == before:
                    return before
                try:
                    sequence = await connection.fetchval(
                        "UPDATE users SET email = $2, email_key = $3, display_name = $4,"
                        " given_name = $5, family_name = $6, email_verified = $7, updated_at = $8,"
                        " event_sequence = event_sequence + 1"
                        " WHERE id = $1 RETURNING event_sequence",
                        user_id,
                        after.email,
                        email_key(after.email),
                        after.display_name,
                        after.given_name,
                        after.family_name,
                        after.email_verified,
                        after.updated_at,
                    )
                except asyncpg.UniqueViolationError as error:
                    if error.constraint_name == _EMAIL_UNIQUE:
                        raise EmailAlreadyTaken(after.email) from None
                    raise
                await append_event(
                    connection,
                    aggregate_type=AGGREGATE_TYPE,
                    aggregate_id=str(user_id),
                    sequence=sequence,
                    event=user_profile_changed(after),
                    headers=inject_headers(),
                )
            await notify_relay(connection)
            return after
