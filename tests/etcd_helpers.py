"""Real etcd members for the tests: loopback ports, a temporary data dir each, stopped by the test.

``etcd_cluster(tmp_path, size)`` starts ``size`` members of one cluster (short heartbeat and election
timeouts, so a leader is elected within a second), waits until the cluster answers a read, and stops
every member on exit. ``member.kill9()`` / ``member.start()`` kill and restart one member on its data.
The ``etcd`` binary must be installed (``make test`` installs Debian's etcd-server): no skip.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from tests.server_process import free_port

LOOPBACK: Final = "127.0.0.1"
READY_TIMEOUT_S: Final = 15.0
ETCD_BINARY: Final = shutil.which("etcd")


class EtcdMember:
    """One etcd process; see the module docstring."""

    def __init__(self, name: str, data_dir: Path, tls: tuple[Path, Path, Path] | None = None) -> None:
        """``tls``: (CA, server certificate, key) to serve clients over https."""
        self.name = name
        self.tls = tls
        self.data_dir = data_dir
        self.client_port = free_port()
        self.peer_port = free_port()
        self.initial_cluster = ""
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{name}.log"

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{LOOPBACK}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{LOOPBACK}:{self.peer_port}"

    def start(self) -> None:
        assert ETCD_BINARY is not None, "etcd is not installed (make test installs etcd-server)"
        assert self.process is None or self.process.poll() is not None
        command = [
            ETCD_BINARY,
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.url}",
            f"--advertise-client-urls={self.url}",
            f"--listen-peer-urls={self.peer_url}",
            f"--initial-advertise-peer-urls={self.peer_url}",
            f"--initial-cluster={self.initial_cluster}",
            "--initial-cluster-state=new",
            "--initial-cluster-token=nacosfast-test",
            "--heartbeat-interval=50",
            "--election-timeout=500",
            "--logger=zap",
            "--log-level=warn",
        ]
        if self.tls is not None:
            command += [f"--cert-file={self.tls[1]}", f"--key-file={self.tls[2]}"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)

    def kill9(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill9()

    def call(
        self, path: str, body: dict[str, Any], timeout_s: float = 2.0, token: str = ""
    ) -> dict[str, Any]:
        """POST to this member's JSON gateway (a blocking call: for set-up and checks)."""
        headers = {"Content-Type": "application/json"} | ({"Authorization": token} if token else {})
        request = urllib.request.Request(self.url + path, json.dumps(body).encode(), headers)
        context = ssl.create_default_context(cafile=str(self.tls[0])) if self.tls else None
        with urllib.request.urlopen(request, timeout=timeout_s, context=context) as answer:
            reply: dict[str, Any] = json.loads(answer.read())
            return reply

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            assert self.process is not None
            assert self.process.poll() is None, self.log_path.read_text()[-2000:]
            try:
                self.call("/v3/kv/range", {"key": b64("ready")}, timeout_s=1.0)
                return
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"etcd {self.name} not ready: {self.log_path.read_text()[-2000:]}"
                    ) from None
                time.sleep(0.05)


def make_tls(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it (openssl): (CA, certificate, key)."""
    ca_key, ca, key, request, cert = (
        directory / name for name in ("ca.key", "ca.pem", "s.key", "s.csr", "s.pem")
    )
    extensions = directory / "san.cnf"
    extensions.write_text("subjectAltName=IP:127.0.0.1\n")
    for command in (
        [
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            ca_key,
            "-out",
            ca,
            "-days",
            "2",
            "-subj",
            "/CN=test-ca",
        ],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", request, "-subj", "/CN=127.0.0.1"],
        [
            "x509",
            "-req",
            "-in",
            request,
            "-CA",
            ca,
            "-CAkey",
            ca_key,
            "-CAcreateserial",
            "-out",
            cert,
            "-days",
            "2",
            "-extfile",
            extensions,
        ],
    ):
        subprocess.run(["openssl", *map(str, command)], check=True, capture_output=True, timeout=30)
    return ca, cert, key


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


@contextlib.contextmanager
def etcd_cluster(
    tmp_path: Path, size: int = 1, tls: tuple[Path, Path, Path] | None = None
) -> Iterator[list[EtcdMember]]:
    """``size`` running etcd members of one new cluster (``tls``: clients over https); all stopped on exit."""
    members = [EtcdMember(f"etcd{index}", tmp_path / f"etcd{index}", tls) for index in range(size)]
    initial = ",".join(f"{member.name}={member.peer_url}" for member in members)
    try:
        for member in members:
            member.initial_cluster = initial
            member.start()
        for member in members:
            member.wait_ready()
        yield members
    finally:
        for member in members:
            member.kill9()


def endpoints(members: list[EtcdMember]) -> str:
    """The ``--etcd`` value for ``members``."""
    return ",".join(member.url for member in members)
