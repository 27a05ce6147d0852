"""A hello-world server on nacosfast's HTTP shell: every request is answered ``ok``.

It measures the HTTP layer alone (accept, parse, encode, send) against nginx in bench/wrk_compare.sh:

    taskset -c 0 .venv/bin/python bench/hello_server.py --port 18848
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, not installed

from nacosfast.server.http import serve_http
from nacosfast.wire.message import Request, Response

_OK = Response(status=200, body=b"ok")


def hello(request: Request) -> Response:
    """Answer every request with ``ok`` (reading ``params`` like the real application does)."""
    _ = request.params
    return _OK


async def no_log(seq: int) -> None:
    """Nothing is ever written: every sequence number is durable at once."""


def main() -> None:
    """Run until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18848)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        trio.run(serve_http, hello, no_log, args.host, args.port)


if __name__ == "__main__":
    main()
