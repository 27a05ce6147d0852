"""``nacosfast server``: run a standalone Nacos-compatible naming server; ``nacosfast instances``,
``services``, ``watch``, ``register``, ``deregister``: the client commands (``nacosfast.client.cli``)."""

from __future__ import annotations

import argparse
import logging
import sys

from nacosfast.client.cli import COMMANDS as CLIENT_COMMANDS
from nacosfast.client.cli import add_client_commands, run_client_command
from nacosfast.config import ConfigError, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nacosfast", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    server = commands.add_parser("server", help="run a standalone naming server")
    server.add_argument("--config", help="TOML file; every flag below is also a key there")
    server.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    server.add_argument("--port", type=int, help="HTTP port (default 8848)")
    server.add_argument("--data-dir", dest="data_dir", help="where durable data lives (default ./data)")
    server.add_argument("--log-level", dest="log_level", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    server.add_argument("--push-port", dest="push_port", type=int, help="UDP push source port (default 0)")
    server.add_argument(
        "--no-push", dest="push_enabled", action="store_const", const=False, help="disable UDP push"
    )
    server.add_argument(
        "--push-to-client-ip",
        dest="push_to_client_ip",
        action="store_const",
        const=True,
        help="push to the clientIP a subscriber names, as Nacos does, instead of the address its request"
        " came from (only behind a trusted proxy: anyone could aim pushes at any host)",
    )
    add_client_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run; the exit status."""
    namespace = _parser().parse_args(argv)
    if namespace.command in CLIENT_COMMANDS:
        return run_client_command(namespace)
    arguments = vars(namespace)
    arguments.pop("command")
    config_file = arguments.pop("config")
    try:
        settings = load_settings(config_file, arguments)
    except ConfigError as error:
        print(f"nacosfast: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    from nacosfast.server.main import run_server

    return run_server(settings)


if __name__ == "__main__":
    sys.exit(main())
