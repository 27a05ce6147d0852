"""``bench/load.py`` against a real server, tiny sizes: the load generator keeps working as the server
evolves (the figures themselves are measured by hand, see ``bench/README.md``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

from tests.server_process import REPO_ROOT, running_server

LOAD_SCRIPT: Final = REPO_ROOT / "bench" / "load.py"
RUN_TIMEOUT_S: Final = 60.0


def run_load(url: str, pid: int, tmp_path: Path, *arguments: str) -> dict[str, Any]:
    report = tmp_path / "report.json"
    completed = subprocess.run(
        [
            sys.executable,
            str(LOAD_SCRIPT),
            *arguments,
            "--url",
            url,
            "--pid",
            str(pid),
            "--json",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    values: dict[str, Any] = json.loads(report.read_text())
    return values


def ops(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    rows = values["ops"]
    assert isinstance(rows, list)
    return {row["op"]: row for row in rows}


def test_load_generator_modes_run_clean_against_the_server(tmp_path: Path) -> None:
    with running_server(tmp_path / "data") as server:
        scenario = run_load(
            server.base_url,
            server.pid,
            tmp_path,
            "scenario",
            *("-n", "60", "-s", "3", "-c", "4", "--beat-interval", "0.3", "--warmup", "0.4"),
            *("--seconds", "1", "--list-rate", "20", "--sweep-period", "0.3", "--prefix", "sc"),
        )
        rows = ops(scenario)
        assert rows["beat"]["ok"] > 60  # every instance beat at least once in the measured second
        assert rows["list"]["ok"] > 0
        assert rows["sweep"]["ok"] > 0
        assert scenario["unhealthy_instances"] == 0
        assert scenario["missing_instances"] == 0

        registered = run_load(
            server.base_url, server.pid, tmp_path, "register", "-n", "100", "-c", "4", "--deregister"
        )
        rows = ops(registered)
        assert (rows["register"]["ok"], rows["deregister"]["ok"]) == (100, 100)

        listed = run_load(
            server.base_url, server.pid, tmp_path, "list", "-n", "20", "-s", "2", "--seconds", "0.5"
        )
        assert ops(listed)["list"]["ok"] > 0
