"""Server settings: defaults, a TOML file, then command-line flags (each flag is also a TOML key)."""

from __future__ import annotations

import dataclasses
import ipaddress
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nacosfast.cluster.auth import check_secret
from nacosfast.cluster.member_list import check_address, parse_member_list
from nacosfast.limits import (
    DISTRO_ANTI_ENTROPY_PERIOD_MS,
    DISTRO_FETCH_PAUSE_MS,
    DISTRO_SYNC_DELAY_MS,
    DISTRO_WARMUP_TIMEOUT_MS,
    FORWARD_TIMEOUT_MS,
    MEMBER_DOWN_AFTER_MS,
    MEMBER_REPORT_INTERVAL_MS,
    MEMBER_SUSPICIOUS_AFTER_MS,
    MEMBERSHIP_SETTLE_MS,
    PUSH_COALESCE_MS,
    PUSH_GIVE_UP_MS,
    PUSH_REPEAT_MS,
    PUSH_RETRY_MS,
    TOKEN_TTL_S,
)
from nacosfast.store.etcd_keys import DEFAULT_PREFIX, check_prefix, parse_endpoints

_WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
"""Listening addresses that do not name the node: its member address must then be given."""


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
    fast_path: bool = True
    """Answer light beats and cached lists through the compiled request path (same answers, less CPU).
    Off: every request goes through the Python handlers."""
    auth_enabled: bool = False
    """Require a token (or username and password) on every API call (``docs/security.md``)."""
    token_secret_file: str = ""
    """File holding the HMAC key that signs tokens: at least 32 random bytes. Required with auth."""
    admin_password_file: str = ""
    """File holding the password of the ``nacos`` administrator, created on first start."""
    token_ttl_s: int = TOKEN_TTL_S
    """Lifetime of an access token in seconds (Nacos ``token.expire.seconds``)."""
    insecure_no_auth: bool = False
    """Serve on a non-loopback address without auth anyway (refused otherwise)."""
    push_to_client_ip: bool = False
    """Push to the ``clientIP`` a list request names (Nacos) instead of the address it came from.
    Only behind a trusted address-rewriting proxy: it lets anyone aim pushes at any host."""
    members: str = ""
    """Cluster members, ``host:port`` separated by commas; any of ``members``, ``cluster_conf`` and
    ``address_server`` makes this node a cluster member (none: standalone)."""
    cluster_conf: str = ""
    """A Nacos ``cluster.conf`` file (one ``ip[:port]`` a line, ``#`` comments), re-read when it changes."""
    address_server: str = ""
    """An ``http://`` URL answering the member list (one ``ip:port`` a line), polled every 5 s."""
    cluster_secret_file: str = ""
    """File holding the shared cluster secret (at least 32 bytes); required in cluster mode."""
    cluster_address: str = ""
    """This node's ``host:port`` as listed among the members; empty means ``host:port``."""
    member_report_ms: int = MEMBER_REPORT_INTERVAL_MS
    member_suspicious_ms: int = MEMBER_SUSPICIOUS_AFTER_MS
    member_down_ms: int = MEMBER_DOWN_AFTER_MS
    membership_settle_ms: int = MEMBERSHIP_SETTLE_MS
    forward_timeout_ms: int = FORWARD_TIMEOUT_MS
    distro_sync_delay_ms: int = DISTRO_SYNC_DELAY_MS
    """Changes to one peer are coalesced this long (Nacos: 1000)."""
    distro_anti_entropy_ms: int = DISTRO_ANTI_ENTROPY_PERIOD_MS
    """Period of the anti-entropy digest rounds (Nacos verify: 5000)."""
    distro_fetch_pause_ms: int = DISTRO_FETCH_PAUSE_MS
    """Pause between two fetches of 50 services during a repair."""
    distro_warmup_timeout_ms: int = DISTRO_WARMUP_TIMEOUT_MS
    """A starting node waits this long for a peer's snapshot before it serves alone."""
    etcd: str = ""
    """etcd endpoints ``http(s)://host:port`` separated by commas: persistent data (instances, service
    attributes, namespaces, switches) then lives in etcd, shared by every node (docs/etcd.md)."""
    etcd_prefix: str = DEFAULT_PREFIX
    """Key prefix in etcd: nodes sharing it share their persistent data."""
    etcd_user: str = ""
    etcd_password_file: str = ""
    """File holding the etcd user's password (with ``etcd_user``)."""
    etcd_ca_file: str = ""
    """CA bundle that signs the etcd servers' certificates (``https://`` endpoints)."""
    etcd_cert_file: str = ""
    """Client certificate (and ``etcd_key_file``) for etcd's client-certificate authentication."""
    etcd_key_file: str = ""

    @property
    def cluster_mode(self) -> bool:
        """Whether a member list source is configured."""
        return bool(self.members or self.cluster_conf or self.address_server)

    @property
    def self_address(self) -> str:
        """This node's member address."""
        return self.cluster_address or f"{self.host}:{self.port}"

    def member_list(self) -> tuple[str, ...]:
        """The ``members`` setting, parsed (``ConfigError`` if malformed)."""
        try:
            return parse_member_list(self.members.replace(",", "\n"))
        except ValueError as error:
            raise ConfigError(f"members: {error}") from None

    def _validate_cluster(self) -> None:
        sources = [name for name in ("members", "cluster_conf", "address_server") if getattr(self, name)]
        if len(sources) > 1:
            raise ConfigError(f"give only one member source, not {' and '.join(sources)}")
        if not self.cluster_secret_file:
            raise ConfigError("cluster mode needs cluster_secret_file (--cluster-secret-file PATH)")
        if self.port == 0 and not self.cluster_address:
            raise ConfigError("cluster mode needs a fixed port (or cluster_address)")
        if self.host in _WILDCARD_HOSTS and not self.cluster_address:
            raise ConfigError(
                f"listening on {self.host}, this node needs cluster_address (--cluster-address ip:port): "
                "the address its peers list it under"
            )
        try:
            check_address(self.self_address)
        except ValueError as error:
            raise ConfigError(f"cluster_address: {error}") from None
        self.member_list()
        if self.address_server and not self.address_server.startswith("http://"):
            raise ConfigError(f"address_server must be an http:// URL, got {self.address_server!r}")
        if not 1 <= self.member_report_ms <= self.member_suspicious_ms <= self.member_down_ms:
            raise ConfigError(
                "member timings must satisfy 1 <= member_report_ms <= member_suspicious_ms <= member_down_ms"
            )
        if self.membership_settle_ms < 0 or self.forward_timeout_ms < 1:
            raise ConfigError("membership_settle_ms must not be negative and forward_timeout_ms positive")
        if min(self.distro_sync_delay_ms, self.distro_fetch_pause_ms, self.distro_warmup_timeout_ms) < 0:
            raise ConfigError("distro_sync_delay_ms, distro_fetch_pause_ms and distro_warmup_timeout_ms >= 0")
        if self.distro_anti_entropy_ms < 1:
            raise ConfigError("distro_anti_entropy_ms must be positive")

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
        if self.cluster_mode:
            self._validate_cluster()
        if self.token_ttl_s < 1:
            raise ConfigError("token_ttl_s must be at least 1")
        if self.auth_enabled and not self.token_secret_file:
            raise ConfigError("auth_enabled needs token_secret_file (a file of at least 32 random bytes)")
        if not self.auth_enabled and not self.insecure_no_auth and not is_loopback(self.host):
            raise ConfigError(
                f"refusing to serve on {self.host} without authentication: anyone who can reach it could "
                "register, change and delete services. Enable auth (--auth-enabled --token-secret-file F "
                "--admin-password-file P), bind to 127.0.0.1, or pass --insecure-no-auth if a firewall "
                "or private network already keeps strangers out"
            )
        if self.etcd:
            self._validate_etcd()
        return self

    def _validate_etcd(self) -> None:
        try:
            parse_endpoints(self.etcd)
            check_prefix(self.etcd_prefix)
        except ValueError as error:
            raise ConfigError(f"etcd: {error}") from None
        if self.auth_enabled:
            raise ConfigError(
                "auth_enabled with etcd is not supported yet (users, roles, permissions: local log only)"
            )
        if bool(self.etcd_user) != bool(self.etcd_password_file):
            raise ConfigError("etcd_user and etcd_password_file go together")
        if bool(self.etcd_cert_file) != bool(self.etcd_key_file):
            raise ConfigError("etcd_cert_file and etcd_key_file go together")


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine (``localhost`` or 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_cluster_secret(path: str) -> bytes:
    """The cluster secret in ``path`` (a trailing line break is not part of it); ``ConfigError`` if the
    file cannot be read or holds fewer than 32 bytes."""
    try:
        with Path(path).open("rb") as handle:
            secret = handle.read(64 * 1024).rstrip(b"\r\n")
    except OSError as error:
        raise ConfigError(f"cannot read the cluster secret file {path}: {error}") from None
    try:
        return check_secret(secret)
    except ValueError as error:
        raise ConfigError(f"{path}: {error}") from None


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
