"""The sans-I/O lint rule (``make lint``): the pure layers cannot import trio, time, os or socket."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUFF = Path(sys.executable).with_name("ruff")
BANNED = ("trio", "time", "os", "socket")


def banned_imports(path: str, source: str) -> int:
    """How many banned-api findings ruff reports for ``source`` as if it were the file ``path``."""
    if not RUFF.exists():
        pytest.fail(f"ruff is missing next to {sys.executable}: run make core")
    result = subprocess.run(
        [
            str(RUFF),
            "check",
            "--select",
            "TID251",
            "--output-format",
            "concise",
            "--stdin-filename",
            path,
            "-",
        ],
        input=source,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    return result.stdout.count("TID251")


@pytest.mark.parametrize("layer", ["naming", "wire", "store", "limits.py"])
@pytest.mark.parametrize("module", BANNED)
def test_pure_layers_cannot_import_io(layer: str, module: str) -> None:
    path = f"nacosfast/{layer}/probe.py" if not layer.endswith(".py") else f"nacosfast/{layer}"
    assert banned_imports(path, f"import {module}\nfrom {module} import x\n") == 2


@pytest.mark.parametrize("module", BANNED)
def test_the_server_may_import_io(module: str) -> None:
    assert banned_imports("nacosfast/server/probe.py", f"import {module}\n") == 0
