"""open_store: the configured backend, wrapped; drivers loaded lazily with a clear message."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from orchestrion.config import Config, PersistenceConfig
from orchestrion.errors import ConfigError
from persistence import open_backend, open_store
from persistence.memory import MemoryStore
from persistence.resilient import ResilientStore
from persistence.sqlite import SqliteStore


def config(**options: object) -> Config:
    return dataclasses.replace(Config(), persistence=PersistenceConfig(**options))  # type: ignore[arg-type]


def test_each_type_opens_its_backend(tmp_path: Path) -> None:
    assert isinstance(open_backend(config(type="memory")), MemoryStore)
    sqlite = open_backend(config(type="sqlite", sqlite_path=tmp_path / "x.db"))
    assert isinstance(sqlite, SqliteStore)
    sqlite.close()
    store = open_store(config(type="sqlite", sqlite_path=tmp_path / "y.db"))
    assert isinstance(store, ResilientStore)
    assert not store.alarm.active
    store.close()


@pytest.mark.parametrize(
    ("kind", "driver", "backend_module", "package"),
    [
        ("redis", "redis", "persistence.redis_store", "redis"),
        ("cassandra", "cassandra", "persistence.cassandra", "cassandra-driver"),
    ],
)
def test_a_missing_driver_names_the_package_to_install(
    monkeypatch: pytest.MonkeyPatch, kind: str, driver: str, backend_module: str, package: str
) -> None:
    for name in list(sys.modules):
        if name == driver or name.startswith(f"{driver}.") or name.startswith(backend_module):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, driver, None)  # makes "import <driver>" fail
    with pytest.raises(ConfigError) as excinfo:
        open_backend(config(type=kind))
    message = str(excinfo.value)
    assert f"type = {kind}" in message
    assert f"pip install {package}" in message
