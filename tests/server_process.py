"""Run a real ``nacosfast server`` subprocess on a free loopback port, for end-to-end tests.

``running_server(data_dir)`` starts the server, waits until ``GET /nacos/v1/console/health/liveness``
answers, yields a :class:`ServerProcess` and always stops the process. The server's stderr goes to a
file so that a failure message can quote its tail, and a chatty server can never block on a full pipe.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
LOOPBACK: Final = "127.0.0.1"
READY_PATH: Final = "/nacos/v1/console/health/liveness"
"""Answers without credentials, also when auth is enabled."""

START_TIMEOUT_S: Final = 30.0
"""How long a server may take to answer its first metrics request (a cold import of the core)."""
READY_POLL_S: Final = 0.05
"""Pause between readiness probes."""
PROBE_TIMEOUT_S: Final = 2.0
"""One readiness probe or helper request."""
STOP_TIMEOUT_S: Final = 10.0
"""How long a graceful stop (SIGTERM) may take before the process is killed."""
KILL_TIMEOUT_S: Final = 10.0
"""How long the kernel may take to reap a SIGKILLed process."""
BIND_ATTEMPTS: Final = 3
"""Start attempts on fresh ports: another process may take the port between probing and binding."""
STDERR_TAIL_BYTES: Final = 8 * 1024
"""How much of the server's stderr a failure message quotes."""


class ServerError(RuntimeError):
    """The server process failed to start or died; the message carries its stderr tail."""


PROCESS_WAIT_STEP_S: Final = 0.02
"""How often ``wait_until`` asks its condition again."""


def wait_until(condition: Callable[[], object], what: str, limit_s: float) -> float:
    """Poll ``condition`` until it holds; the seconds that took. Fails after ``limit_s``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > limit_s:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(PROCESS_WAIT_STEP_S)
    return time.monotonic() - start


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def _listening_inodes(port: int) -> set[str] | None:
    """Socket inodes of TCP listeners on ``port`` (any address), or ``None`` without ``/proc``."""
    found: set[str] = set()
    suffix = f":{port:04X}"
    try:
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(table, encoding="ascii") as handle:
                next(handle)
                for line in handle:
                    fields = line.split()
                    if fields[1].endswith(suffix) and fields[3] == "0A":  # 0A: LISTEN
                        found.add(fields[9])
    except OSError:
        return None
    return found


class ServerProcess:
    """One ``nacosfast server`` process: start, wait ready, stop or SIGKILL, read its stderr."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port if port is not None else free_port()
        self.extra_args = tuple(extra_args)
        self.env = dict(env) if env is not None else None
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr_path = self.data_dir.parent / f"{self.data_dir.name}.server-{self.port}.stderr"
        self._stderr_file: Any = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def address(self) -> str:
        """``127.0.0.1:<port>``, the form Nacos clients take."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        """The server's process id."""
        if self._process is None:
            raise ServerError("server is not started")
        return self._process.pid

    def command(self) -> list[str]:
        """The command line that starts this server."""
        return [
            sys.executable,
            "-m",
            "nacosfast",
            "server",
            "--host",
            LOOPBACK,
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--log-level",
            "INFO",
            "--push-port",
            "0",
            *self.extra_args,
        ]

    def start(self) -> None:
        """Start the process (not waiting for it to serve)."""
        if self._process is not None:
            raise ServerError("server is already started")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._stderr_file = self._stderr_path.open("ab")
        environment = dict(os.environ if self.env is None else self.env)
        environment.setdefault("PYTHONUNBUFFERED", "1")
        self._process = subprocess.Popen(
            self.command(),
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self._stderr_file,
            stderr=self._stderr_file,
            env=environment,
        )

    def running(self) -> bool:
        """Whether the process is alive."""
        return self._process is not None and self._process.poll() is None

    def returncode(self) -> int | None:
        """The exit status, or ``None`` while it runs."""
        return None if self._process is None else self._process.poll()

    def stderr_tail(self) -> str:
        """The last bytes the server wrote to stdout/stderr."""
        try:
            with self._stderr_path.open("rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - STDERR_TAIL_BYTES))
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _failure(self, what: str) -> ServerError:
        return ServerError(
            f"{what} (port {self.port}, exit status {self.returncode()}); "
            f"server output:\n{self.stderr_tail()}"
        )

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Block until the liveness endpoint answers 200; raise ``ServerError`` if it dies or times out."""
        deadline = time.monotonic() + timeout_s
        url = self.base_url + READY_PATH
        while True:
            if not self.running():
                raise self._failure("server exited before it served")
            try:
                with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S) as response:
                    response.read()
                    # Another process may hold the port (then ours fails to bind and exits).
                    if response.status == 200 and self.owns_listener():
                        return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() >= deadline:
                raise self._failure(f"server did not answer {READY_PATH} within {timeout_s} s")
            time.sleep(READY_POLL_S)

    def owns_listener(self) -> bool:
        """Whether this process holds the TCP listening socket on ``port`` (Linux ``/proc``)."""
        inodes = _listening_inodes(self.port)
        if inodes is None:  # no /proc/net/tcp: cannot tell, trust the answer
            return True
        try:
            descriptors = os.listdir(f"/proc/{self.pid}/fd")
        except OSError:
            return False
        for descriptor in descriptors:
            try:
                target = os.readlink(f"/proc/{self.pid}/fd/{descriptor}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return True
        return False

    def kill9(self) -> None:
        """SIGKILL the process and reap it."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
        self._process.wait(timeout=KILL_TIMEOUT_S)
        self._close_stderr()

    def stop(self) -> int | None:
        """Stop the process: SIGTERM, then SIGKILL after ``STOP_TIMEOUT_S``; the exit status."""
        if self._process is None:
            return None
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.send_signal(signal.SIGKILL)
                self._process.wait(timeout=KILL_TIMEOUT_S)
        self._close_stderr()
        return self._process.returncode

    def _close_stderr(self) -> None:
        if self._stderr_file is not None:
            self._stderr_file.close()
            self._stderr_file = None

    # --- plain HTTP helpers (urllib, one connection per request) --------------------------------------

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, object] | None = None,
        *,
        timeout_s: float = PROBE_TIMEOUT_S,
    ) -> tuple[int, bytes]:
        """Send one request with ``params`` in the query string; ``(status, body)`` for any status."""
        target = self.base_url + path
        if params:
            target += "?" + urllib.parse.urlencode({key: str(value) for key, value in params.items()})
        request = urllib.request.Request(target, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.read()

    def get_json(self, path: str, params: Mapping[str, object] | None = None) -> Any:
        """GET ``path`` and decode its JSON answer; ``ServerError`` unless the status is 200."""
        status, body = self.request("GET", path, params)
        if status != 200:
            raise ServerError(f"GET {path} {dict(params or {})} answered {status}: {body[:500]!r}")
        return json.loads(body)


@contextlib.contextmanager
def running_server(
    data_dir: Path,
    *,
    port: int | None = None,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Iterator[ServerProcess]:
    """A started and ready server; stopped (or killed) on exit, whatever happens inside."""
    server = _start_ready(data_dir, port=port, extra_args=extra_args, env=env)
    try:
        yield server
    finally:
        server.stop()


def _start_ready(
    data_dir: Path, *, port: int | None, extra_args: Sequence[str], env: Mapping[str, str] | None
) -> ServerProcess:
    attempts = 1 if port is not None else BIND_ATTEMPTS
    attempt = 0
    while True:
        attempt += 1
        server = ServerProcess(data_dir, port=port, extra_args=extra_args, env=env)
        try:
            server.start()
            server.wait_ready()
        except ServerError:
            server.stop()
            # A port taken between probing and binding shows as an early exit: try a fresh port.
            if attempt < attempts and server.returncode() not in (0, -signal.SIGTERM):
                continue
            raise
        except BaseException:
            server.stop()
            raise
        return server
