"""``nacosfast server``: run a Nacos-compatible naming server, standalone or as a cluster member;
``nacosfast instances``, ``services``, ``watch``, ``register``, ``deregister``: the client commands
(``nacosfast.client.cli``)."""

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
    server = commands.add_parser("server", help="run a naming server (standalone, or a cluster member)")
    server.add_argument("--config", help="TOML file; every flag below is also a key there")
    server.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    server.add_argument("--port", type=int, help="HTTP port (default 8848)")
    server.add_argument("--data-dir", dest="data_dir", help="where durable data lives (default ./data)")
    server.add_argument("--log-level", dest="log_level", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    server.add_argument("--push-port", dest="push_port", type=int, help="UDP push source port (default 0)")
    server.add_argument(
        "--no-fast-path",
        dest="fast_path",
        action="store_const",
        const=False,
        help="answer every request through the Python handlers (no compiled request path)",
    )
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
    auth = server.add_argument_group("authentication (docs/security.md)")
    auth.add_argument(
        "--auth-enabled",
        dest="auth_enabled",
        action="store_const",
        const=True,
        help="require a token (or username/password) on every call",
    )
    auth.add_argument(
        "--token-secret-file", dest="token_secret_file", help="file with >= 32 random bytes signing tokens"
    )
    auth.add_argument(
        "--admin-password-file",
        dest="admin_password_file",
        help="file with the password of the 'nacos' administrator, created on first start",
    )
    auth.add_argument("--token-ttl", dest="token_ttl_s", type=int, help="token lifetime in seconds (18000)")
    auth.add_argument(
        "--insecure-no-auth",
        dest="insecure_no_auth",
        action="store_const",
        const=True,
        help="allow a non-loopback --host without auth (only behind a firewall you trust)",
    )
    cluster = server.add_argument_group("cluster mode (any member source makes this node a member)")
    cluster.add_argument("--members", help="members as host:port,host:port,... (this node included)")
    cluster.add_argument(
        "--cluster-conf", dest="cluster_conf", help="Nacos cluster.conf file, re-read when it changes"
    )
    cluster.add_argument(
        "--address-server", dest="address_server", help="http:// URL listing the members, polled every 5 s"
    )
    cluster.add_argument(
        "--cluster-secret-file",
        dest="cluster_secret_file",
        help="file with the shared cluster secret (>= 32 bytes; required in cluster mode)",
    )
    cluster.add_argument(
        "--cluster-address", dest="cluster_address", help="this node's host:port among the members"
    )
    for name, what in (
        ("member-report-ms", "status report period (default 2000)"),
        ("member-suspicious-ms", "silence before a member is SUSPICIOUS (default 5000)"),
        ("member-down-ms", "silence before a member is DOWN (default 9000)"),
        ("membership-settle-ms", "quiet time before membership counts as stable (default 10000)"),
        ("forward-timeout-ms", "wait for an owner before handling a write locally (default 2000)"),
        ("distro-sync-delay-ms", "coalescing window of replication to each peer (default 100)"),
        ("distro-anti-entropy-ms", "period of anti-entropy digest rounds (default 5000)"),
        ("distro-fetch-pause-ms", "pause between fetches of 50 services in a repair (default 200)"),
        ("distro-warmup-timeout-ms", "wait for a peer's snapshot before serving alone (default 10000)"),
    ):
        cluster.add_argument(f"--{name}", dest=name.replace("-", "_"), type=int, help=what)
    etcd = server.add_argument_group("persistent data in etcd (docs/etcd.md)")
    etcd.add_argument("--etcd", help="etcd endpoints http(s)://host:port,... (persistent data lives there)")
    for name, what in (
        ("etcd-prefix", "key prefix in etcd (default /nacosfast)"),
        ("etcd-user", "etcd user name (with --etcd-password-file)"),
        ("etcd-password-file", "file holding the etcd user's password"),
        ("etcd-ca-file", "CA bundle for https:// etcd endpoints"),
        ("etcd-cert-file", "client certificate for etcd (with --etcd-key-file)"),
        ("etcd-key-file", "client certificate key for etcd"),
    ):
        etcd.add_argument(f"--{name}", dest=name.replace("-", "_"), help=what)
    add_client_commands(commands)
    add_import_command(commands)
    return parser


def add_import_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``nacosfast import-log``: a standalone log into etcd, once."""
    command = commands.add_parser("import-log", help="copy a standalone data dir's log to etcd (idempotent)")
    command.add_argument("--config", help="TOML file (the server's: etcd settings and data_dir)")
    command.add_argument("--data-dir", dest="data_dir", help="the standalone node's data directory")
    command.add_argument("--etcd", help="etcd endpoints http(s)://host:port,...")
    command.add_argument("--etcd-prefix", dest="etcd_prefix", help="key prefix in etcd (default /nacosfast)")
    command.add_argument("--etcd-user", dest="etcd_user")
    command.add_argument("--etcd-password-file", dest="etcd_password_file")
    command.add_argument("--etcd-ca-file", dest="etcd_ca_file")
    command.add_argument("--etcd-cert-file", dest="etcd_cert_file")
    command.add_argument("--etcd-key-file", dest="etcd_key_file")


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run; the exit status."""
    namespace = _parser().parse_args(argv)
    if namespace.command in CLIENT_COMMANDS:
        return run_client_command(namespace)
    arguments = vars(namespace)
    command = arguments.pop("command")
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
    if command == "import-log":
        if not settings.etcd:
            print("nacosfast: import-log needs --etcd", file=sys.stderr)
            return 2
        from nacosfast.server.etcd_import import run_import

        return run_import(settings)
    from nacosfast.server.main import run_server

    return run_server(settings)


if __name__ == "__main__":
    sys.exit(main())
