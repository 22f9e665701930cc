"""The configuration loader: INI file, environment overrides, validation messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrion.config import Config, Endpoint, load_config, option_names
from orchestrion.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "orchestrion.ini"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_file_or_environment() -> None:
    config = load_config(None, {})
    assert config.persistence.type == "sqlite"
    assert config.persistence.sqlite_path == Path("orchestrion.db")
    assert config.persistence.redis_nodes == (Endpoint("127.0.0.1", 6379),)
    assert not config.persistence.redis_is_cluster
    assert config.scxml.persistence_default is False
    assert config.worker.concurrency == 4
    assert config.scheduler.sweep_interval == 0.05
    assert config.api.auth_tokens == ()
    assert config.orchestration.node_id  # hostname-pid
    assert config.scheduler == Config().scheduler


def test_file_values_are_parsed_to_typed_attributes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[persistence]
type = redis
redis-nodes = 10.0.0.1:7000;10.0.0.2:7001
redis-tls = yes
cassandra-strategy-class = NetworkTopologyStrategy
cassandra-strategy-options = DC1:2;DC2:3
[scxml]
persistence-default = true
[orchestration]
node-id = node-a
[api]
auth-tokens = one, two
allowed-locations = /srv/docs;https://example.com/scxml/
""",
    )
    config = load_config(path, {})
    assert config.persistence.type == "redis"
    assert config.persistence.redis_nodes == (
        Endpoint("10.0.0.1", 7000),
        Endpoint("10.0.0.2", 7001),
    )
    assert config.persistence.redis_is_cluster
    assert config.persistence.redis_tls is True
    assert config.persistence.cassandra_replication() == {
        "class": "NetworkTopologyStrategy",
        "DC1": 2,
        "DC2": 3,
    }
    assert config.scxml.persistence_default is True
    assert config.orchestration.node_id == "node-a"
    assert config.api.auth_tokens == ("one", "two")
    assert config.api.allowed_locations == ("/srv/docs", "https://example.com/scxml/")


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[worker]\nconcurrency = 4\n")
    env = {"ORCHESTRION_WORKER_CONCURRENCY": "8", "ORCHESTRION_PERSISTENCE_SQLITE_PATH": "x.db"}
    config = load_config(path, env)
    assert config.worker.concurrency == 8
    assert config.persistence.sqlite_path == Path("x.db")


def test_unrelated_orchestrion_variables_are_ignored() -> None:
    config = load_config(
        None, {"ORCHESTRION_CONFIG": "/x.ini", "ORCHESTRION_TEST_CASSANDRA": "h:1"}
    )
    assert config.persistence.type == "sqlite"


@pytest.mark.parametrize(
    ("env", "fragments"),
    [
        ({"ORCHESTRION_WORKER_CONCURRENCY": "zero"}, ["[worker] concurrency", "'zero'", "integer"]),
        ({"ORCHESTRION_PERSISTENCE_TYPE": "mongo"}, ["[persistence] type", "sqlite, redis"]),
        ({"ORCHESTRION_API_PORT": "70000"}, ["[api] port", "'70000'", "65535"]),
        ({"ORCHESTRION_PERSISTENCE_REDIS_NODES": "hostonly"}, ["redis-nodes", "host:port"]),
        ({"ORCHESTRION_SCHEDULER_MISSED_RUN_POLICY": "all"}, ["missed-run-policy", "once, skip"]),
        (
            {"ORCHESTRION_SCXML_PERSISTENCE_DEFAULT": "maybe"},
            ["persistence-default", "true or false"],
        ),
        ({"ORCHESTRION_WORKER_CONCURENCY": "1"}, ["ORCHESTRION_WORKER_CONCURENCY", "concurrency"]),
        (
            {"ORCHESTRION_PERSISTENCE_CASSANDRA_STRATEGY_OPTIONS": "DC1:2"},
            ["SimpleStrategy", "replication_factor"],
        ),
        ({"ORCHESTRION_PERSISTENCE_CASSANDRA_READ_CONSISTENCY": "MOST"}, ["LOCAL_QUORUM"]),
        ({"ORCHESTRION_SCHEDULER_DEAD_NODE_AFTER": "5"}, ["dead-node-after = 5", "heartbeat"]),
        ({"ORCHESTRION_SCHEDULER_CLAIM_TTL": "4"}, ["claim-ttl = 4", "max-clock-skew = 2"]),
    ],
)
def test_invalid_values_name_section_option_value_and_allowed(
    env: dict[str, str], fragments: list[str]
) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_config(None, env)
    for fragment in fragments:
        assert fragment in str(excinfo.value)


def test_password_is_not_echoed_in_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "[persistence]\npassword = s3cret\nusername = u\nredis-db = -1\n")
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, {})
    assert "s3cret" not in str(excinfo.value)


def test_unknown_section_and_option_in_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown section \[persistance\]"):
        load_config(write(tmp_path, "[persistance]\ntype = redis\n"), {})
    with pytest.raises(ConfigError, match=r"unknown option \[worker\] threads"):
        load_config(write(tmp_path, "[worker]\nthreads = 4\n"), {})


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read configuration file"):
        load_config(tmp_path / "absent.ini", {})


def test_option_names_match_documentation() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text(encoding="utf-8")
    for section in (
        "persistence",
        "scxml",
        "orchestration",
        "broker",
        "worker",
        "scheduler",
        "api",
    ):
        assert f"[{section}]" in doc
        for name in option_names(section):
            assert f"`{name}`" in doc, f"[{section}] {name} is not documented"
