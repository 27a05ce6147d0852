"""Settings: defaults, TOML file, flags; bad settings are refused with the setting's name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nacosfast.__main__ import main
from nacosfast.config import ConfigError, Settings, load_settings, read_cluster_secret
from nacosfast.naming.push import PushConfig


def test_config_defaults_are_the_standalone_ones() -> None:
    settings = load_settings(None, {})
    assert (settings.host, settings.port, settings.data_dir) == ("127.0.0.1", 8848, "./data")


def test_config_file_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "nacosfast.toml"
    config.write_text('port = 9000\ndata-dir = "/srv/nf"\nlog_level = "DEBUG"\npush_coalesce_ms = 5\n')
    settings = load_settings(str(config), {"port": 9100, "host": None})
    assert settings == Settings(port=9100, data_dir="/srv/nf", log_level="DEBUG", push_coalesce_ms=5)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("port = 70000\n", "port must be within"),
        ('port = "8848"\n', "setting port must be int"),
        ("colour = 1\n", "unknown setting 'colour'"),
        ('log_level = "LOUD"\n', "log_level must be"),
        ("push_give_up_ms = 0\n", "push_give_up_ms must be at least 1"),
        ("push_retry_ms = -1\n", "push_retry_ms must not be negative"),
        ("port = \n", "cannot read config file"),
    ],
)
def test_config_rejects_bad_settings(tmp_path: Path, document: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(document)
    with pytest.raises(ConfigError, match=message):
        load_settings(str(config), {})


def test_cli_bad_config_exits_2_with_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["server", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "cannot read config file" in capsys.readouterr().err


def test_cli_data_dir_in_use_exits_1(tmp_path: Path) -> None:
    """A second server on the same data directory refuses to start (the log is locked)."""
    from nacosfast.store.log import AppendLog

    held = AppendLog.open(tmp_path)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "nacosfast", "server", "--port", "0", "--data-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        held.close()
    assert result.returncode == 1
    assert "cannot open the data directory" in result.stderr


def test_import_without_compiled_core_says_how_to_build_it() -> None:
    """No fallback: with the extension missing, importing nacosfast fails and names the fix."""
    probe = (
        "import importlib.abc, sys\n"
        "class Hide(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'nacosfast._core.registry':\n"
        "            raise ImportError('simulated: extension not built')\n"
        "sys.meta_path.insert(0, Hide())\n"
        "import nacosfast\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "make core" in result.stderr
    assert "simulated: extension not built" in result.stderr


def test_push_setting_defaults_are_the_push_hub_defaults() -> None:
    """One source for each default (``limits.py``): the flags and the push hub cannot drift apart."""
    settings, config = Settings(), PushConfig()
    assert (settings.push_coalesce_ms, settings.push_retry_ms, settings.push_give_up_ms) == (
        config.coalesce_ms,
        config.retry_ms,
        config.give_up_ms,
    )
    assert settings.push_repeat_ms == config.repeat_ms
    assert settings.push_to_client_ip == config.push_to_client_ip


def test_push_to_client_ip_is_off_by_default_and_set_by_flag_or_file(tmp_path: Path) -> None:
    from nacosfast.__main__ import _parser

    assert load_settings(None, {}).push_to_client_ip is False
    flags = vars(_parser().parse_args(["server", "--push-to-client-ip"]))
    assert flags["push_to_client_ip"] is True
    assert vars(_parser().parse_args(["server"]))["push_to_client_ip"] is None  # the file may decide
    config = tmp_path / "nacosfast.toml"
    config.write_text("push_to_client_ip = true\n")
    assert load_settings(str(config), {}).push_to_client_ip is True


def test_config_cluster_flags_and_checks() -> None:
    settings = load_settings(
        None,
        {
            "members": "127.0.0.1:8848, 127.0.0.1:8850",
            "cluster_secret_file": "/etc/secret",
            "member_report_ms": 100,
        },
    )
    assert settings.cluster_mode
    assert settings.self_address == "127.0.0.1:8848"
    assert settings.member_list() == ("127.0.0.1:8848", "127.0.0.1:8850")
    assert not load_settings(None, {}).cluster_mode
    assert load_settings(None, {"cluster_conf": "c", "cluster_secret_file": "s"}).cluster_mode


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"members": "127.0.0.1:1"}, "needs cluster_secret_file"),
        (
            {"members": "127.0.0.1:1", "cluster_conf": "c", "cluster_secret_file": "s"},
            "only one member source",
        ),
        ({"members": "127.0.0.1:1", "cluster_secret_file": "s", "port": 0}, "needs a fixed port"),
        ({"members": "127.0.0.1:0", "cluster_secret_file": "s"}, "members: not a member port"),
        ({"address_server": "ftp://x/list", "cluster_secret_file": "s"}, "must be an http:// URL"),
        ({"members": "a:1", "cluster_secret_file": "s", "member_down_ms": 10}, "member timings"),
        ({"members": "a:1", "cluster_secret_file": "s", "cluster_address": "x y:1"}, "cluster_address"),
        ({"members": "a:1", "cluster_secret_file": "s", "host": "0.0.0.0"}, "needs cluster_address"),
    ],
)
def test_config_cluster_refusals(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(None, overrides)


def test_config_cluster_secret_file(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.write_bytes(b"k" * 32 + b"\n")
    assert read_cluster_secret(str(good)) == b"k" * 32
    short = tmp_path / "short"
    short.write_bytes(b"k" * 31 + b"\n")
    with pytest.raises(ConfigError, match="31 bytes; at least 32"):
        read_cluster_secret(str(short))
    with pytest.raises(ConfigError, match="cannot read the cluster secret file"):
        read_cluster_secret(str(tmp_path / "missing"))


def test_fast_path_is_on_by_default_and_cleared_by_flag_or_file(tmp_path: Path) -> None:
    from nacosfast.__main__ import _parser

    assert load_settings(None, {}).fast_path is True
    assert vars(_parser().parse_args(["server", "--no-fast-path"]))["fast_path"] is False
    assert vars(_parser().parse_args(["server"]))["fast_path"] is None  # the file may decide
    config = tmp_path / "nacosfast.toml"
    config.write_text("fast_path = false\n")
    assert load_settings(str(config), {}).fast_path is False
