"""Everything Orchestrion keeps: sessions, mailboxes, leases, documents, schedules, ownership.

``open_store(config)`` returns the configured backend wrapped in :class:`ResilientStore`
(the store alarm, fast failure and reconnection during outages). Drivers are imported only
when their backend is chosen; a missing driver names the package to install.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from orchestrion.errors import ConfigError, StoreUnavailable
from persistence.alarm import Alarm
from persistence.contract import Store
from persistence.resilient import ResilientStore

if TYPE_CHECKING:
    from orchestrion.config import Config

__all__ = ["Alarm", "ResilientStore", "Store", "open_backend", "open_store"]

# The pip requirement that provides each backend's driver.
_DRIVER_PACKAGES = {"redis": "redis", "cassandra": "cassandra-driver"}


def open_backend(config: Config) -> Store:
    """The bare backend named by ``[persistence] type`` (no outage handling)."""
    kind = config.persistence.type
    try:
        if kind == "memory":
            from persistence.memory import MemoryStore

            return MemoryStore()
        if kind == "sqlite":
            from persistence.sqlite import SqliteStore

            return SqliteStore(config.persistence.sqlite_path)
        if kind == "redis":
            from persistence.redis_store import RedisStore

            return RedisStore.from_config(config.persistence)
        if kind == "cassandra":
            from persistence.cassandra import CassandraStore  # type: ignore[import-not-found, unused-ignore]

            return CassandraStore.from_config(config.persistence)  # type: ignore[no-any-return, unused-ignore]
    except ModuleNotFoundError as exc:
        package = _DRIVER_PACKAGES.get(kind)
        if package is None or exc.name is None or exc.name.startswith("persistence"):
            raise
        raise ConfigError(
            f"[persistence] type = {kind} needs the Python package {package!r}, which is not"
            f" installed (missing module {exc.name!r}): pip install {package}"
        ) from exc
    raise ConfigError(f"[persistence] type = {kind!r}: expected sqlite, redis, cassandra, memory")


def open_store(config: Config, *, alarm: Alarm | None = None) -> ResilientStore:
    """The configured store, with the store alarm and reconnection (see ``resilient``).

    A store that cannot be reached now does not fail here: the alarm is raised and every
    operation raises ``StoreUnavailable`` until it can be reached. Configuration errors
    (a bad option, a missing driver) raise ``ConfigError`` at once.
    """
    backend: Store | Callable[[], Store]
    try:
        backend = open_backend(config)
    except StoreUnavailable:
        backend = lambda: open_backend(config)  # noqa: E731 - retried by ResilientStore
    store = ResilientStore(
        backend,
        alarm=alarm,
        max_backoff_s=config.persistence.reconnect_max_backoff,
    )
    store.check()  # a store that is down now raises the alarm and starts reconnecting
    return store
