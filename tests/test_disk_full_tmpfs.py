"""Disk-full recovery on a real 2 MiB tmpfs (issue 8, item 3), in a private mount namespace.

``unshare --user --map-root-user --mount`` gives the helper (tests/disk_full_probe.py) the right to
mount a tmpfs that only it and its server see, and that vanishes when it exits, so the test needs no
root and leaves no mount behind. A machine without user namespaces fails this test loudly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Final

from tests.server_process import REPO_ROOT

PROBE_TIMEOUT_S: Final = 120.0
"""The whole scenario: two server starts, ~45 registers, a recovery of at most 15 s."""


def test_full_tmpfs_recovers_after_freeing_600_kib(tmp_path: Path) -> None:
    completed = subprocess.run(
        [
            "unshare",
            "--user",
            "--map-root-user",
            "--mount",
            sys.executable,
            "-m",
            "tests.disk_full_probe",
            str(tmp_path / "data"),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=PROBE_TIMEOUT_S,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr.decode()[-4000:]
    result = json.loads(completed.stdout.splitlines()[-1])
    assert result["acknowledged_before_full"] >= 5, result
    assert result["first_refusal"] == 503, result
    assert result["refusals"] == [503] * 20, result
    assert result["phantoms"] == [], result  # a refused register never shows in instance/list
    assert result["recovered_s"] < 2.0, result
    assert result["listed_after_recovery"], result
    assert result["listed_after_restart"], result
