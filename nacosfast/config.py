"""Server settings: defaults, a TOML file, then command-line flags (each flag is also a TOML key)."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nacosfast.limits import PUSH_COALESCE_MS, PUSH_GIVE_UP_MS, PUSH_REPEAT_MS, PUSH_RETRY_MS


class ConfigError(ValueError):
    """A configuration file or flag that cannot be used."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything ``nacosfast server`` can be told. TOML keys are these names."""

    host: str = "127.0.0.1"
    port: int = 8848
    data_dir: str = "./data"
    log_level: str = "INFO"
    push_enabled: bool = True
    push_host: str = ""
    """Address the UDP push socket binds to; empty means the HTTP host."""
    push_port: int = 0
    """UDP push source port; 0 picks an ephemeral port, as Nacos does."""
    push_coalesce_ms: int = PUSH_COALESCE_MS
    push_retry_ms: int = PUSH_RETRY_MS
    push_give_up_ms: int = PUSH_GIVE_UP_MS
    push_repeat_ms: int = PUSH_REPEAT_MS
    """Re-send the latest state to subscribers whose last packet was not acked (0 = off, as Nacos)."""
    push_to_client_ip: bool = False
    """Push to the ``clientIP`` a list request names (Nacos) instead of the address it came from.
    Only behind a trusted address-rewriting proxy: it lets anyone aim pushes at any host."""

    def validate(self) -> Settings:
        """Check ranges; raise ``ConfigError`` naming the bad setting."""
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be within 0..65535, got {self.port}")
        if not 0 <= self.push_port <= 65535:
            raise ConfigError(f"push_port must be within 0..65535, got {self.push_port}")
        if self.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ConfigError(
                f"log_level must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {self.log_level}"
            )
        for name in ("push_coalesce_ms", "push_retry_ms", "push_repeat_ms"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative")
        if self.push_give_up_ms < 1:
            raise ConfigError("push_give_up_ms must be at least 1")
        return self


def load_settings(config_file: str | None, overrides: dict[str, Any]) -> Settings:
    """Defaults, then the TOML file (if any), then the non-``None`` ``overrides`` (flags)."""
    values: dict[str, Any] = {}
    known = {field.name: field for field in dataclasses.fields(Settings)}
    if config_file:
        try:
            with Path(config_file).open("rb") as handle:
                document = tomllib.load(handle)
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"cannot read config file {config_file}: {error}") from error
        for key, value in document.items():
            name = key.replace("-", "_")
            if name not in known:
                raise ConfigError(f"unknown setting {key!r} in {config_file}")
            values[name] = value
    values.update({key: value for key, value in overrides.items() if value is not None})
    defaults = Settings()
    for name, value in values.items():
        expected = type(getattr(defaults, name))
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(f"setting {name} must be {expected.__name__}, got {value!r}")
    return Settings(**values).validate()
