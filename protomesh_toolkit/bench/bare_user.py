"""The user service's GetUser with nothing around it: the benchmark's plaintext floor.

`python -m protomesh_toolkit.bench.bare_user` serves shop.user.v1.UserService from the
same servicer, store and pool settings as the real service, on a grpc.aio
server with no interceptors and no TLS. It exists only so
`protomesh_toolkit.bench.mtls` can show what mTLS and the interceptor chain cost.
"""

from __future__ import annotations

import asyncio
import functools
import signal

import grpc
from shop.user.v1 import user_pb2_grpc as v1_grpc

from protomesh import runner
from protomesh.config import load_config
from protomesh.db.pool import create_pool
from protomesh.server import SERVER_OPTIONS
from services.user.bootstrap import utc_now
from services.user.config import PREFIX, UserServiceConfig
from services.user.servicer_v1 import UserServiceV1
from services.user.store import PostgresUserReader, PostgresUserUnitOfWork


async def serve(config: UserServiceConfig) -> None:
    pool = await create_pool(
        config.database_url,
        password=config.database_password,
        schema=config.database_schema,
        application_name="bare-user",
        min_size=config.pool_min_size,
        max_size=config.pool_max_size,
    )
    server = grpc.aio.server(options=SERVER_OPTIONS)
    units = functools.partial(PostgresUserUnitOfWork, pool, retention=config.idempotency_retention)
    v1_grpc.add_UserServiceServicer_to_server(
        UserServiceV1(PostgresUserReader(pool), units, utc_now), server
    )
    server.add_insecure_port(f"{config.host}:{config.port}")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop(1.0)
    await pool.close()


def main() -> None:
    config = load_config(UserServiceConfig, PREFIX)

    async def run() -> None:
        await serve(config)

    runner.run(run)


if __name__ == "__main__":
    main()
