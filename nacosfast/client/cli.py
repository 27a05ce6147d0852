"""The client commands of ``nacosfast``: instances, services, watch, register, deregister.

Tables for people, ``--json`` for scripts. Exit status: 0 done, 1 the server refused the request,
2 bad usage, 3 no server could be reached.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, Final, TextIO

EXIT_OK: Final = 0
EXIT_REFUSED: Final = 1
EXIT_USAGE: Final = 2
EXIT_UNREACHABLE: Final = 3
SERVER_ENV: Final = "NACOS_SERVER"
DEFAULT_SERVER: Final = "127.0.0.1:8848"
SERVICE_PAGE_SIZE: Final = 500
"""Service names fetched per request by ``services``."""
MAX_SERVICE_PAGES: Final = 10_000
"""``services`` stops after this many pages (5,000,000 names) whatever the server reports."""

COMMANDS: Final = ("instances", "services", "watch", "register", "deregister")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server",
        default=os.environ.get(SERVER_ENV, DEFAULT_SERVER),
        help=f"comma-separated host:port list (default ${SERVER_ENV} or {DEFAULT_SERVER})",
    )
    parser.add_argument("--endpoint", default="", help="address server host[:port] listing the servers")
    parser.add_argument("--namespace", default="public", help="namespace id (default public)")
    parser.add_argument("--group", default="DEFAULT_GROUP", help="group (default DEFAULT_GROUP)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _instance_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("service")
    parser.add_argument("ip")
    parser.add_argument("port", type=int)
    parser.add_argument("--cluster", default="DEFAULT", help="cluster name (default DEFAULT)")
    parser.add_argument(
        "--persistent", action="store_true", help="a persistent instance (no beats; stays until deregistered)"
    )


def _metadata(text: str) -> tuple[str, str]:
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"metadata must be key=value, got {text!r}")
    return key, value


def add_client_commands(commands: Any) -> None:
    """Add the client sub-commands to ``nacosfast``'s sub-parsers."""
    instances = commands.add_parser("instances", help="list a service's instances")
    instances.add_argument("service")
    instances.add_argument("--clusters", default="", help="comma-separated clusters (default all)")
    instances.add_argument("--healthy-only", action="store_true", help="only healthy instances")
    _common(instances)

    services = commands.add_parser("services", help="list the services of a namespace and group")
    _common(services)

    watch = commands.add_parser("watch", help="print a service's changes as they are pushed (Ctrl-C stops)")
    watch.add_argument("service")
    watch.add_argument("--clusters", default="", help="comma-separated clusters (default all)")
    _common(watch)

    register = commands.add_parser(
        "register", help="register an instance and keep it alive until interrupted, then deregister it"
    )
    _instance_arguments(register)
    register.add_argument("--weight", type=float, default=1.0)
    register.add_argument(
        "--metadata", type=_metadata, action="append", default=[], metavar="KEY=VALUE", help="repeatable"
    )
    _common(register)

    deregister = commands.add_parser("deregister", help="remove an instance")
    _instance_arguments(deregister)
    _common(deregister)


# --- output ------------------------------------------------------------------------------------------


def _instance_json(instance: Any) -> dict[str, Any]:
    json_form: dict[str, Any] = instance.to_json()
    return json_form


def _table(rows: list[list[str]], out: TextIO) -> None:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        out.write(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() + "\n"
        )


def _instance_rows(instances: Sequence[Any]) -> list[list[str]]:
    rows = [["IP", "PORT", "CLUSTER", "HEALTHY", "ENABLED", "WEIGHT", "EPHEMERAL", "METADATA"]]
    for item in instances:
        metadata = ",".join(f"{key}={value}" for key, value in sorted(item.metadata.items()))
        rows.append(
            [
                item.ip,
                str(item.port),
                item.cluster,
                "yes" if item.healthy else "NO",
                "yes" if item.enabled else "no",
                f"{item.weight:g}",
                "yes" if item.ephemeral else "no",
                metadata or "-",
            ]
        )
    return rows


def _print_change(change: Any, as_json: bool, out: TextIO) -> None:
    if as_json:
        record = {
            "service": change.service,
            "group": change.group,
            "clusters": change.clusters,
            "instances": [_instance_json(item) for item in change.instances],
            "added": [_instance_json(item) for item in change.added],
            "removed": [_instance_json(item) for item in change.removed],
            "modified": [_instance_json(item) for item in change.modified],
        }
        out.write(json.dumps(record, separators=(",", ":")) + "\n")
    else:
        stamp = datetime.now().astimezone().isoformat(timespec="seconds")
        out.write(
            f"{stamp} {change.group}@@{change.service}: {len(change.instances)} instances "
            f"(+{len(change.added)} -{len(change.removed)} ~{len(change.modified)})\n"
        )
        for sign, items in (("+", change.added), ("-", change.removed), ("~", change.modified)):
            for item in items:
                health = "healthy" if item.healthy else "UNHEALTHY"
                out.write(f"  {sign} {item.ip}:{item.port} {item.cluster} {health} weight={item.weight:g}\n")
    out.flush()


# --- commands ----------------------------------------------------------------------------------------


async def _instances(client: Any, args: argparse.Namespace, out: TextIO) -> int:
    found = await client.get_all_instances(
        args.service, group=args.group, clusters=args.clusters, subscribe=False
    )
    if args.healthy_only:
        found = [item for item in found if item.healthy]
    if args.json:
        out.write(json.dumps([_instance_json(item) for item in found], indent=2) + "\n")
    elif found:
        _table(_instance_rows(found), out)
    else:
        out.write(f"no instances of {args.group}@@{args.service}\n")
    return EXIT_OK


async def _services(client: Any, args: argparse.Namespace, out: TextIO) -> int:
    names: list[str] = []
    for page_no in range(1, MAX_SERVICE_PAGES + 1):
        page = await client.get_services(page_no=page_no, page_size=SERVICE_PAGE_SIZE, group=args.group)
        names.extend(page.names)
        if not page.names or len(names) >= page.count:
            break
    if args.json:
        out.write(json.dumps(names) + "\n")
    else:
        for name in names:
            out.write(name + "\n")
        out.write(f"({len(names)} services in {args.namespace}/{args.group})\n")
    return EXIT_OK


@contextlib.contextmanager
def _interrupts() -> Iterator[AsyncIterator[int]]:
    """SIGINT/SIGTERM as an async iterator; opened before anything is printed, so that a Ctrl-C right
    after the first line is handled (deregistration included), never a bare KeyboardInterrupt."""
    import anyio

    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        yield signals


async def _first(signals: AsyncIterator[int]) -> None:
    async for _ in signals:
        return


async def _watch(client: Any, args: argparse.Namespace, out: TextIO) -> int:
    with _interrupts() as signals:
        await client.subscribe(
            args.service,
            lambda change: _print_change(change, args.json, out),
            group=args.group,
            clusters=args.clusters,
        )
        if not args.json:
            out.write(
                f"watching {args.group}@@{args.service} (push on UDP port {client.push_port}); Ctrl-C stops\n"
            )
            out.flush()
        await _first(signals)
    return EXIT_OK


async def _register(client: Any, args: argparse.Namespace, out: TextIO) -> int:
    import anyio

    with _interrupts() as signals:
        await client.register_instance(
            args.service,
            args.ip,
            args.port,
            group=args.group,
            cluster=args.cluster,
            weight=args.weight,
            ephemeral=not args.persistent,
            metadata=dict(args.metadata),
        )
        what = f"{args.ip}:{args.port} in {args.group}@@{args.service} ({args.cluster})"
        out.write(f"registered {what}" + ("\n" if args.persistent else "; beating until interrupted\n"))
        out.flush()
        try:
            await _first(signals)
        finally:
            with (
                anyio.CancelScope(shield=True),
                anyio.move_on_after(client.timings.request_timeout_ms / 1000),
            ):
                await client.deregister_instance(
                    args.service,
                    args.ip,
                    args.port,
                    group=args.group,
                    cluster=args.cluster,
                    ephemeral=not args.persistent,
                )
                out.write(f"deregistered {what}\n")
                out.flush()
    return EXIT_OK


async def _deregister(client: Any, args: argparse.Namespace, out: TextIO) -> int:
    await client.deregister_instance(
        args.service,
        args.ip,
        args.port,
        group=args.group,
        cluster=args.cluster,
        ephemeral=not args.persistent,
    )
    out.write(f"deregistered {args.ip}:{args.port} from {args.group}@@{args.service}\n")
    return EXIT_OK


_HANDLERS: Final[dict[str, Callable[[Any, argparse.Namespace, TextIO], Any]]] = {
    "instances": _instances,
    "services": _services,
    "watch": _watch,
    "register": _register,
    "deregister": _deregister,
}


def run_client_command(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run one client command; the exit status."""
    import anyio

    from nacosfast.client import AsyncNamingClient, NacosClientError, NacosRequestError, NoServerAvailable

    async def main() -> int:
        client = AsyncNamingClient(
            args.server if not args.endpoint else "",
            namespace=args.namespace,
            endpoint=args.endpoint,
            disk_cache=False,
            push=args.command == "watch",
        )
        async with client:
            result: int = await _HANDLERS[args.command](client, args, out)
            return result

    try:
        return anyio.run(main, backend="trio")
    except ValueError as error:  # a bad --server/--endpoint address
        err.write(f"nacosfast: {error}\n")
        return EXIT_USAGE
    except NoServerAvailable as error:
        err.write(f"nacosfast: cannot reach a Nacos server: {error}\n")
        return EXIT_UNREACHABLE
    except NacosRequestError as error:
        err.write(f"nacosfast: the server refused the request: {error}\n")
        return EXIT_REFUSED
    except NacosClientError as error:
        err.write(f"nacosfast: {error}\n")
        return EXIT_REFUSED
