"""`python -m protomesh_toolkit.payment_sandbox --port 58090`."""

from __future__ import annotations

import argparse
import logging

from protomesh_toolkit.payment_sandbox.server import serve


def main() -> None:
    parser = argparse.ArgumentParser(description="the payment provider sandbox (HTTP/JSON)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=58090)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    serve(arguments.host, arguments.port)


if __name__ == "__main__":
    main()
