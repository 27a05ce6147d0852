"""Real local servers for health-check tests: a TCP listener that can close and reopen on its port, an
HTTP server whose status and delay the test sets, and a MariaDB server in its own temporary data dir.

Each runs in this process's threads (TCP, HTTP) or as a child process (MariaDB) on 127.0.0.1, and each
is stopped by its context manager whatever the test does.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, Final

from tests.server_process import LOOPBACK, free_port

ACCEPT_POLL_S: Final = 0.05
"""How often the TCP target's accept loop looks at its stop flag."""
THREAD_STOP_TIMEOUT_S: Final = 5.0
MARIADB_START_TIMEOUT_S: Final = 60.0
MARIADB_STOP_TIMEOUT_S: Final = 30.0
MARIADB_CLIENT_TIMEOUT_S: Final = 30.0
CHECK_USER: Final = "nacoscheck"
CHECK_PASSWORD: Final = "check-secret"
_SBIN: Final = "/usr/sbin:/usr/bin:/sbin:/bin"


class TcpTarget:
    """A listener on a fixed loopback port: :meth:`open` accepts and closes connections, :meth:`close`
    stops listening (connections are refused) until the next :meth:`open`."""

    def __init__(self) -> None:
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.accepted = 0

    def open(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOOPBACK, self.port))
        listener.listen(128)
        listener.settimeout(ACCEPT_POLL_S)
        self._listener = listener
        self._stop.clear()
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            connection.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(THREAD_STOP_TIMEOUT_S)
            self._thread = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None


@contextlib.contextmanager
def tcp_target() -> Iterator[TcpTarget]:
    target = TcpTarget()
    target.open()
    try:
        yield target
    finally:
        target.close()


class _Handler(BaseHTTPRequestHandler):
    server: HttpTargetServer
    protocol_version = "HTTP/1.1"
    log_headers: ClassVar[bool] = False

    def do_GET(self) -> None:
        target = self.server
        target.requests.append((self.path, dict(self.headers.items())))
        if target.delay_s:
            time.sleep(target.delay_s)
        body = b"ok" if target.status == 200 else b"not ok"
        with contextlib.suppress(OSError):  # the checker resets the connection once it has the status
            self.send_response(target.status)
            if target.location:
                self.send_header("Location", target.location)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return


class HttpTargetServer(ThreadingHTTPServer):
    """An HTTP server answering every GET with ``status`` after ``delay_s``; it records each request."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__((LOOPBACK, 0), _Handler)
        self.status = 200
        self.delay_s = 0.0
        self.location = ""
        self.requests: list[tuple[str, dict[str, str]]] = []

    @property
    def port(self) -> int:
        port: int = self.server_address[1]
        return port

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connections reset by the checker are expected; nothing to log."""


@contextlib.contextmanager
def http_target() -> Iterator[HttpTargetServer]:
    server = HttpTargetServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(THREAD_STOP_TIMEOUT_S)


def _binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=_SBIN)
    if found is None:
        raise RuntimeError(f"{name} is missing: `make test` installs Debian's mariadb-server")
    return found


class MariaDB:
    """A MariaDB server on a free loopback port with its own data dir, and a check user with a password."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.socket_path = base / "mariadb.sock"
        self.log_path = base / "mariadb.err"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        data = self.base / "data"
        user = ["--user=root"] if _is_root() else []
        subprocess.run(
            [_binary("mariadb-install-db"), "--no-defaults", f"--datadir={data}", *user,
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            check=True, capture_output=True, timeout=MARIADB_START_TIMEOUT_S,
        )  # fmt: skip
        self._process = subprocess.Popen(
            [_binary("mariadbd"), "--no-defaults", f"--datadir={data}", *user, f"--port={self.port}",
             f"--bind-address={LOOPBACK}", f"--socket={self.socket_path}", f"--pid-file={self.base / 'pid'}",
             f"--log-error={self.log_path}", "--skip-log-bin", "--skip-name-resolve",
             "--innodb-buffer-pool-size=16M", "--max-connections=200"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + MARIADB_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"mariadbd exited: {self.log_tail()}")
            with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
                self.sql("SELECT 1")
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"mariadbd did not start in {MARIADB_START_TIMEOUT_S} s: {self.log_tail()}")
        self.sql(
            f"CREATE USER '{CHECK_USER}'@'%' IDENTIFIED BY '{CHECK_PASSWORD}'; "
            f"GRANT PROCESS ON *.* TO '{CHECK_USER}'@'%';"
        )

    def sql(self, statements: str) -> str:
        """Run SQL as root over the unix socket with Debian's ``mariadb`` client; its output."""
        done = subprocess.run(
            [_binary("mariadb"), "--no-defaults", f"--socket={self.socket_path}", "-uroot", "-N",
             "-e", statements],
            check=True, capture_output=True, timeout=MARIADB_CLIENT_TIMEOUT_S,
        )  # fmt: skip
        return done.stdout.decode()

    def set_read_only(self, read_only: bool) -> None:
        self.sql(f"SET GLOBAL read_only={'ON' if read_only else 'OFF'}")

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        process = self._process
        if process is None:
            return
        self._process = None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(MARIADB_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(MARIADB_STOP_TIMEOUT_S)


def _is_root() -> bool:
    import os

    return os.geteuid() == 0


@contextlib.contextmanager
def mariadb(base: Path) -> Iterator[MariaDB]:
    server = MariaDB(base)
    try:
        server.start()
        yield server
    finally:
        server.stop()
