"""Orchestrion's configuration: one INI file, overridable by environment variables.

The sections and option names follow the Genesys ORS configuration ([persistence],
[scxml], [orchestration], ...). Each option may be overridden by the environment variable
``ORCHESTRION_<SECTION>_<OPTION>`` (upper case, dashes as underscores), for example
``ORCHESTRION_PERSISTENCE_TYPE=redis``. Everything is validated at load time: a bad value
raises :class:`~orchestrion.errors.ConfigError` naming the section, option, value, where it
came from and what is allowed. ``docs/configuration.md`` documents every option.

Attribute names are the option names with dashes as underscores:
``config.persistence.sqlite_path`` is ``[persistence] sqlite-path``.
"""

from __future__ import annotations

import configparser
import dataclasses
import math
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrion.errors import ConfigError

ENV_PREFIX = "ORCHESTRION_"

CONSISTENCY_LEVELS = (
    "ANY",
    "ONE",
    "TWO",
    "THREE",
    "QUORUM",
    "ALL",
    "LOCAL_QUORUM",
    "EACH_QUORUM",
    "LOCAL_ONE",
)
SERIAL_CONSISTENCY_LEVELS = ("SERIAL", "LOCAL_SERIAL")


@dataclass(frozen=True)
class Endpoint:
    """A ``host:port`` pair."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def default_node_id() -> str:
    """``hostname-pid``: unique per process, stable for the life of the process."""
    return f"{socket.gethostname()}-{os.getpid()}"


# -- value parsers: raw text -> typed value, ValueError says what is allowed -------------------

Parser = Callable[[str], Any]


def parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("true", "yes", "on", "1"):
        return True
    if value in ("false", "no", "off", "0"):
        return False
    raise ValueError("expected true or false")


def parse_int(minimum: int | None = None, maximum: int | None = None) -> Parser:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError(f"expected an integer{_range_text(minimum, maximum)}") from None
        _check_range(value, minimum, maximum, "an integer")
        return value

    return parse


def parse_float(minimum: float | None = None, maximum: float | None = None) -> Parser:
    def parse(raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ValueError(f"expected a number{_range_text(minimum, maximum)}") from None
        if math.isnan(value):
            raise ValueError(f"expected a number{_range_text(minimum, maximum)}")
        _check_range(value, minimum, maximum, "a number")
        return value

    return parse


def _range_text(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f" from {minimum} to {maximum}"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""


def _check_range(value: float, minimum: float | None, maximum: float | None, kind: str) -> None:
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"expected {kind}{_range_text(minimum, maximum)}")


def parse_choice(*choices: str) -> Parser:
    """One of ``choices``, matched case-insensitively and returned as written in ``choices``."""
    canonical = {choice.lower(): choice for choice in choices}

    def parse(raw: str) -> str:
        value = canonical.get(raw.strip().lower())
        if value is None:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return value

    return parse


def parse_str(raw: str) -> str:
    return raw.strip()


def parse_nonempty(raw: str) -> str:
    value = raw.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


def parse_path(raw: str) -> Path:
    return Path(parse_nonempty(raw)).expanduser()


def parse_list(separator: str) -> Parser:
    def parse(raw: str) -> tuple[str, ...]:
        return tuple(part.strip() for part in raw.split(separator) if part.strip())

    return parse


def parse_port(raw: str) -> int:
    value: int = parse_int(1, 65535)(raw)
    return value


def parse_endpoints(raw: str) -> tuple[Endpoint, ...]:
    """``host:port;host:port`` (IPv6 as ``[::1]:6379``)."""
    endpoints = []
    for part in parse_list(";")(raw):
        host, sep, port = part.rpartition(":")
        if not sep or not host:
            raise ValueError(f"expected host:port entries separated by ';', got {part!r}")
        try:
            number = parse_port(port)
        except ValueError:
            raise ValueError(f"port of {part!r} must be an integer from 1 to 65535") from None
        endpoints.append(Endpoint(host.strip("[]"), number))
    if not endpoints:
        raise ValueError("expected at least one host:port")
    return tuple(endpoints)


def parse_hosts(raw: str) -> tuple[str, ...]:
    hosts: tuple[str, ...] = parse_list(";")(raw)
    if not hosts:
        raise ValueError("expected at least one host, separated by ';'")
    return hosts


def parse_replication(raw: str) -> tuple[tuple[str, int], ...]:
    """``replication_factor:2`` or ``DC1:2;DC2:3``."""
    pairs = []
    for part in parse_list(";")(raw):
        key, sep, count = part.partition(":")
        if not sep or not key.strip() or not count.strip().isdigit() or int(count) < 1:
            raise ValueError(
                f"expected name:count entries separated by ';' (count >= 1), got {part!r}"
            )
        pairs.append((key.strip(), int(count)))
    if not pairs:
        raise ValueError("expected replication_factor:N or DC:N;DC:N")
    return tuple(pairs)


def parse_node_id(raw: str) -> str:
    return raw.strip() or default_node_id()


def option(default: Any, parse: Parser) -> Any:
    """A config field: its default and the parser of its text form."""
    if isinstance(default, tuple | list | dict):
        raise TypeError("use option_factory for container defaults")
    return field(default=default, metadata={"parse": parse})


def option_factory(factory: Callable[[], Any], parse: Parser) -> Any:
    return field(default_factory=factory, metadata={"parse": parse})


# -- sections ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersistenceConfig:
    """[persistence]: which store and how to reach it."""

    type: str = option("sqlite", parse_choice("sqlite", "redis", "cassandra", "memory"))
    sqlite_path: Path = option_factory(lambda: Path("orchestrion.db"), parse_path)  # noqa: RUF009
    redis_nodes: tuple[Endpoint, ...] = option_factory(
        lambda: (Endpoint("127.0.0.1", 6379),), parse_endpoints
    )
    redis_cluster: bool = option(False, parse_bool)
    redis_tls: bool = option(False, parse_bool)
    redis_db: int = option(0, parse_int(0))
    cluster_name: str = option("orchestrion", parse_nonempty)
    username: str = option("", parse_str)
    password: str = option("", parse_str)
    cassandra_nodes: tuple[str, ...] = option_factory(lambda: ("127.0.0.1",), parse_hosts)
    cassandra_listenport: int = option(9042, parse_port)
    cassandra_keyspace: str = option("orchestrion", parse_nonempty)
    cassandra_strategy_class: str = option(
        "SimpleStrategy", parse_choice("SimpleStrategy", "NetworkTopologyStrategy")
    )
    cassandra_strategy_options: tuple[tuple[str, int], ...] = option_factory(
        lambda: (("replication_factor", 1),), parse_replication
    )
    cassandra_schema_version: int = option(1, parse_int(1))
    cassandra_read_consistency: str = option("LOCAL_QUORUM", parse_choice(*CONSISTENCY_LEVELS))
    cassandra_write_consistency: str = option("LOCAL_QUORUM", parse_choice(*CONSISTENCY_LEVELS))
    cassandra_serial_consistency: str = option(
        "LOCAL_SERIAL", parse_choice(*SERIAL_CONSISTENCY_LEVELS)
    )
    finished_ttl: int = option(86400, parse_int(1))
    reconnect_max_backoff: float = option(30.0, parse_float(0.1))

    @property
    def redis_is_cluster(self) -> bool:
        """Redis Cluster when asked for, or when more than one node is listed."""
        return self.redis_cluster or len(self.redis_nodes) > 1

    def cassandra_replication(self) -> dict[str, str | int]:
        """The keyspace's replication map, as CQL ``CREATE KEYSPACE ... WITH replication``."""
        replication: dict[str, str | int] = {"class": self.cassandra_strategy_class}
        replication.update(dict(self.cassandra_strategy_options))
        return replication


@dataclass(frozen=True)
class ScxmlConfig:
    """[scxml]: document and script limits, persistence default."""

    persistence_default: bool = option(False, parse_bool)
    max_document_bytes: int = option(1048576, parse_int(1))
    max_depth: int = option(64, parse_int(1))
    script_time_limit_ms: int = option(1000, parse_int(1))
    script_memory_limit_mb: int = option(64, parse_int(1))


@dataclass(frozen=True)
class OrchestrationConfig:
    """[orchestration]: node identity and session lifetime limits."""

    sessionid_with_nodeid: bool = option(True, parse_bool)
    node_id: str = option_factory(default_node_id, parse_node_id)
    max_session_lifetime: float = option(0.0, parse_float(0))
    idle_timeout: float = option(0.0, parse_float(0))


@dataclass(frozen=True)
class BrokerConfig:
    """[broker]: the Celery broker (empty url: the embedded filesystem transport)."""

    url: str = option("", parse_str)
    data_dir: Path = option_factory(lambda: Path("orchestrion-data"), parse_path)  # noqa: RUF009


@dataclass(frozen=True)
class WorkerConfig:
    """[worker]: worker processes."""

    # Threads of one worker process. Drains wait on the store most of the time: 4 threads
    # applied twice the events of 2 on a two-core machine (bench/cluster.py, Redis store).
    concurrency: int = option(4, parse_int(1))
    cache_size: int = option(1000, parse_int(0))
    lease_ttl: float = option(30.0, parse_float(0.1))
    heartbeat_interval: float = option(5.0, parse_float(0.01))
    batch_size: int = option(100, parse_int(1))


@dataclass(frozen=True)
class SchedulerConfig:
    """[scheduler]: the beat."""

    sweep_interval: float = option(0.05, parse_float(0.001))
    claim_ttl: float = option(30.0, parse_float(0.1))
    lookahead: float = option(1.0, parse_float(0))
    missed_run_policy: str = option("once", parse_choice("once", "skip"))
    max_clock_skew: float = option(2.0, parse_float(0))
    dead_node_after: float = option(30.0, parse_float(0.1))
    reap_interval: float = option(10.0, parse_float(0.01))


@dataclass(frozen=True)
class ApiConfig:
    """[api]: the HTTP server."""

    host: str = option("127.0.0.1", parse_nonempty)
    port: int = option(8080, parse_int(0, 65535))
    auth_tokens: tuple[str, ...] = option_factory(tuple, parse_list(","))
    max_body_bytes: int = option(1048576, parse_int(1))
    allowed_locations: tuple[str, ...] = option_factory(tuple, parse_list(";"))
    public_url: str = option("", parse_str)


@dataclass(frozen=True)
class Config:
    """The whole configuration; ``Config()`` is every default."""

    persistence: PersistenceConfig = field(default_factory=PersistenceConfig)
    scxml: ScxmlConfig = field(default_factory=ScxmlConfig)
    orchestration: OrchestrationConfig = field(default_factory=OrchestrationConfig)
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    api: ApiConfig = field(default_factory=ApiConfig)


SECTIONS: dict[str, type[Any]] = {
    "persistence": PersistenceConfig,
    "scxml": ScxmlConfig,
    "orchestration": OrchestrationConfig,
    "broker": BrokerConfig,
    "worker": WorkerConfig,
    "scheduler": SchedulerConfig,
    "api": ApiConfig,
}


def option_names(section: str) -> list[str]:
    """The option names of a section, as written in the INI file (with dashes)."""
    return [f.name.replace("_", "-") for f in dataclasses.fields(SECTIONS[section])]


# -- loading ----------------------------------------------------------------------------------


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read ``path`` (if given), apply ``ORCHESTRION_<SECTION>_<OPTION>`` overrides, validate.

    ``environ`` defaults to ``os.environ``. Raises ``ConfigError`` for a missing or
    unreadable file, an unknown section or option, or an invalid value.
    """
    raw: dict[str, dict[str, tuple[str, str]]] = {name: {} for name in SECTIONS}
    if path is not None:
        _read_file(Path(path), raw)
    _read_environment(os.environ if environ is None else environ, raw)
    sections = {name: _build_section(name, values) for name, values in raw.items()}
    config = Config(**sections)
    _check_consistency(config)
    return config


def _read_file(path: Path, raw: dict[str, dict[str, tuple[str, str]]]) -> None:
    parser = configparser.ConfigParser(interpolation=None, default_section="__none__")
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep names as written
    try:
        with path.open(encoding="utf-8") as handle:
            parser.read_file(handle, source=str(path))
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from exc
    except configparser.Error as exc:
        raise ConfigError(f"configuration file {path} is not valid INI: {exc}") from exc
    for section in parser.sections():
        name = section.strip().lower()
        if name not in SECTIONS:
            raise ConfigError(
                f"{path}: unknown section [{section}]; known sections: "
                + ", ".join(f"[{s}]" for s in SECTIONS)
            )
        known = option_names(name)
        for key, value in parser.items(section):
            option_name = key.strip().lower()
            if option_name not in known:
                raise ConfigError(
                    f"{path}: unknown option [{name}] {key}; known options: {', '.join(known)}"
                )
            raw[name][option_name] = (value, str(path))


def _read_environment(
    environ: Mapping[str, str], raw: dict[str, dict[str, tuple[str, str]]]
) -> None:
    for variable, value in environ.items():
        if not variable.startswith(ENV_PREFIX):
            continue
        rest = variable[len(ENV_PREFIX) :]
        section, sep, key = rest.partition("_")
        name = section.lower()
        # Other ORCHESTRION_* variables (ORCHESTRION_CONFIG, test settings) are not options.
        if not sep or name not in SECTIONS:
            continue
        option_name = key.lower().replace("_", "-")
        known = option_names(name)
        if option_name not in known:
            raise ConfigError(
                f"environment variable {variable}: unknown option [{name}] {option_name}; "
                f"known options: {', '.join(known)}"
            )
        raw[name][option_name] = (value, f"environment variable {variable}")


def _build_section(section: str, values: dict[str, tuple[str, str]]) -> Any:
    cls = SECTIONS[section]
    kwargs: dict[str, Any] = {}
    for spec in dataclasses.fields(cls):
        option_name = spec.name.replace("_", "-")
        if option_name not in values:
            continue
        text, origin = values[option_name]
        try:
            kwargs[spec.name] = spec.metadata["parse"](text)
        except ValueError as exc:
            shown = "***" if option_name == "password" else repr(text)
            raise ConfigError(
                f"[{section}] {option_name} = {shown} (from {origin}): {exc}"
            ) from None
    return cls(**kwargs)


def _check_consistency(config: Config) -> None:
    """Rules that involve more than one option."""
    persistence = config.persistence
    keys = [key for key, _ in persistence.cassandra_strategy_options]
    if persistence.cassandra_strategy_class == "SimpleStrategy" and keys != ["replication_factor"]:
        raise ConfigError(
            "[persistence] cassandra-strategy-options = "
            f"{';'.join(f'{k}:{v}' for k, v in persistence.cassandra_strategy_options)!r}: "
            "SimpleStrategy takes exactly replication_factor:N "
            "(use NetworkTopologyStrategy for per-datacenter counts such as DC1:2;DC2:3)"
        )
    worker, scheduler = config.worker, config.scheduler
    if scheduler.dead_node_after <= worker.heartbeat_interval:
        raise ConfigError(
            f"[scheduler] dead-node-after = {scheduler.dead_node_after:g} must be more than"
            f" [worker] heartbeat-interval = {worker.heartbeat_interval:g}"
            " (or live nodes are taken for dead)"
        )
    if scheduler.claim_ttl <= 2 * scheduler.max_clock_skew:
        raise ConfigError(
            f"[scheduler] claim-ttl = {scheduler.claim_ttl:g} must be more than twice"
            f" [scheduler] max-clock-skew = {scheduler.max_clock_skew:g}"
        )
    if persistence.password and not persistence.username and persistence.type == "cassandra":
        raise ConfigError(
            "[persistence] password is set but username is empty (Cassandra needs both)"
        )
