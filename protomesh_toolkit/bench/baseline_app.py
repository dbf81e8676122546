"""The stack a Python user would otherwise pick, as the benchmark's yardstick.

A minimal FastAPI app on uvicorn (uvloop, httptools) serving
`GET /v1/users/{user_id}` from the same row, through the same pool helper and
pool size, with the same JSON shape as the user service's REST API behind
Envoy. Written the way its documentation teaches, not tuned: it stands for
what people would get without protomesh.

Run as `python -m protomesh_toolkit.bench.baseline_app` with BENCH_BASELINE_* settings;
BENCH_BASELINE_ACCESS_LOG=1 logs every request, as the user service does at
log level info. BENCH_BASELINE_WORKERS=N runs N uvicorn worker processes (its
own multi-process mode: one listening socket its workers inherit), so it gets
the cores the user service's server processes get.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI, HTTPException, Request

from protomesh.config import Secret
from protomesh.db.pool import create_pool

_QUERY = (
    "SELECT id, email, display_name, given_name, family_name, email_verified,"
    " created_at, updated_at FROM users WHERE id = $1"
)


def create_app(dsn: str, password: Secret | None, schema: str, pool_size: int) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await create_pool(
            dsn,
            password=password,
            schema=schema,
            application_name="bench-baseline",
            min_size=pool_size,
            max_size=pool_size,
        )
        yield
        await app.state.pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/v1/users/{user_id}")
    async def get_user(user_id: str, request: Request) -> dict[str, Any]:
        try:
            key = uuid.UUID(user_id)
        except ValueError:
            raise HTTPException(400, "user_id must be a UUID") from None
        pool: asyncpg.Pool = request.app.state.pool
        row = await pool.fetchrow(_QUERY, key)
        if row is None:
            raise HTTPException(404, f"user {user_id} not found")
        return {
            "user": {
                "user_id": str(row["id"]),
                "email": row["email"],
                "display_name": row["display_name"],
                "create_time": row["created_at"].isoformat(),
                "update_time": row["updated_at"].isoformat(),
            }
        }

    return app


def app_from_environment() -> FastAPI:
    """The app as each uvicorn worker builds it (uvicorn imports a factory per worker)."""
    env = os.environ
    password_file = env.get("BENCH_BASELINE_DATABASE_PASSWORD_FILE")
    return create_app(
        env["BENCH_BASELINE_DATABASE_URL"],
        Secret(Path(password_file).read_text().strip()) if password_file else None,
        env["BENCH_BASELINE_DATABASE_SCHEMA"],
        int(env.get("BENCH_BASELINE_POOL_SIZE", "8")),
    )


def main() -> None:
    env = os.environ
    access_log = bool(env.get("BENCH_BASELINE_ACCESS_LOG"))
    uvicorn.run(
        f"{__spec__.name}:app_from_environment",
        factory=True,
        host="127.0.0.1",
        port=int(env["BENCH_BASELINE_PORT"]),
        loop="uvloop",
        http="httptools",
        workers=int(env.get("BENCH_BASELINE_WORKERS", "1")),
        access_log=access_log,
        log_level="info" if access_log else "warning",
    )


if __name__ == "__main__":
    main()
