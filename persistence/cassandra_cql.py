"""Running CQL for the Cassandra store: prepared statements, consistency levels, errors.

Every statement the store runs goes through :class:`Cql`, which prepares it once, gives it
the configured consistency (reads, writes, and the serial level of lightweight
transactions) and turns driver errors into Orchestrion's: an unreachable or overloaded
cluster becomes ``StoreUnavailable``, a rejected statement ``StoreError``.
"""

from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from cassandra import (
    ConsistencyLevel,
    DriverException,
    RequestExecutionException,
    RequestValidationException,
)
from cassandra.cluster import NoHostAvailable, Session
from cassandra.connection import ConnectionException
from cassandra.protocol import ErrorMessage
from cassandra.protocol import RequestValidationException as ProtocolValidationError
from cassandra.query import BatchStatement, BatchType, PreparedStatement

from orchestrion.errors import StoreError, StoreUnavailable

Params = tuple[Any, ...]
Write = tuple[str, Params]
"""A statement (with ``{ks}``) and its values, as batched."""
_PARALLEL_READS = 256  # requests in flight at once for read_many


def row_factory(columns: list[str], rows: list[tuple[Any, ...]]) -> list[Any]:
    """Rows as named tuples, like the driver's default factory, which builds a new
    namedtuple class for every result: a tenth of a millisecond each time, on every read."""
    make = _row_type(tuple(columns))._make
    return [make(row) for row in rows]


@lru_cache(maxsize=256)
def _row_type(columns: tuple[str, ...]) -> Any:
    # A transaction's "[applied]" column becomes "applied", as with the driver's factory.
    names = [re.sub(r"\W", "_", name.strip("[]")) for name in columns]
    return namedtuple("Row", names, rename=True)


def consistency_level(name: str) -> int:
    """The driver's value for a consistency level name such as ``LOCAL_QUORUM``."""
    try:
        return int(ConsistencyLevel.name_to_value[name.upper()])
    except KeyError:
        raise StoreError(f"unknown Cassandra consistency level {name!r}") from None


@contextmanager
def translate_errors(what: str) -> Iterator[None]:
    """Raise Orchestrion's store errors for driver errors met while doing ``what``."""
    try:
        yield
    except (NoHostAvailable, RequestExecutionException, ConnectionException) as exc:
        # Unavailable, read/write timeouts and failures, no live host, a dropped
        # connection: the cluster cannot serve the request now; the driver reconnects.
        raise StoreUnavailable(f"cassandra: {what}: {type(exc).__name__}: {exc}") from exc
    except (RequestValidationException, ProtocolValidationError) as exc:
        raise StoreError(f"cassandra: {what}: {type(exc).__name__}: {exc}") from exc
    except (DriverException, ErrorMessage) as exc:
        # OperationTimedOut on the client; overloaded, bootstrapping or failing servers.
        raise StoreUnavailable(f"cassandra: {what}: {type(exc).__name__}: {exc}") from exc
    except RuntimeError as exc:  # the driver's "Session/Cluster is shut down" errors
        if "shut down" not in str(exc) and "shutdown" not in str(exc):
            raise
        raise StoreUnavailable(f"cassandra: {what}: {exc}") from exc


class Cql:
    """Prepared statements over one driver session, with the store's consistency levels.

    Statements are written with ``{ks}`` for the keyspace and prepared on first use.
    """

    def __init__(
        self,
        session: Session,
        keyspace: str,
        *,
        read_consistency: str,
        write_consistency: str,
        serial_consistency: str,
    ) -> None:
        self.session = session
        self.keyspace = keyspace
        self.read_cl = consistency_level(read_consistency)
        self.write_cl = consistency_level(write_consistency)
        self.serial_cl = consistency_level(serial_consistency)
        self._prepared: dict[str, PreparedStatement] = {}

    def prepare(self, query: str) -> PreparedStatement:
        statement = self._prepared.get(query)
        if statement is None:
            with translate_errors("prepare"):
                statement = self.session.prepare(query.format(ks=self.keyspace))
            self._prepared[query] = statement
        return statement

    def read(self, query: str, params: Params = (), *, serial: bool = False) -> list[Any]:
        """Every row of a query (the driver pages through large results)."""
        bound = self.prepare(query).bind(params)
        bound.consistency_level = self.serial_cl if serial else self.read_cl
        with translate_errors("read"):
            return list(self.session.execute(bound))

    def read_one(self, query: str, params: Params = (), *, serial: bool = False) -> Any:
        rows = self.read(query, params, serial=serial)
        return rows[0] if rows else None

    def read_many(self, queries: Sequence[Write]) -> list[list[Any]]:
        """Several reads in parallel (one per partition), results in the same order."""
        results: list[list[Any]] = []
        for start in range(0, len(queries), _PARALLEL_READS):
            futures = []
            with translate_errors("read"):
                for query, params in queries[start : start + _PARALLEL_READS]:
                    bound = self.prepare(query).bind(params)
                    bound.consistency_level = self.read_cl
                    futures.append(self.session.execute_async(bound))
                results += [list(future.result()) for future in futures]
        return results

    def write(self, query: str, params: Params = ()) -> None:
        bound = self.prepare(query).bind(params)
        bound.consistency_level = self.write_cl
        with translate_errors("write"):
            self.session.execute(bound)

    def cas(self, query: str, params: Params = ()) -> tuple[bool, Any]:
        """A lightweight transaction: (applied, the row with the current values if not)."""
        bound = self.prepare(query).bind(params)
        bound.consistency_level = self.write_cl
        bound.serial_consistency_level = self.serial_cl
        with translate_errors("conditional write"):
            row = self.session.execute(bound).one()
        return bool(row.applied), row

    def batch(self, statements: Sequence[Write], *, logged: bool = True) -> None:
        """Apply several writes together (logged: all or, after a failure, eventually all)."""
        if not statements:
            return
        batch = self._batch(statements, BatchType.LOGGED if logged else BatchType.UNLOGGED)
        with translate_errors("batch write"):
            self.session.execute(batch)

    def cas_batch(self, statements: Sequence[Write]) -> tuple[bool, Any]:
        """A conditional batch on one partition: (applied, the current values if not)."""
        batch = self._batch(statements, BatchType.UNLOGGED)
        batch.serial_consistency_level = self.serial_cl
        with translate_errors("conditional batch write"):
            row = self.session.execute(batch).one()
        return bool(row.applied), row

    def _batch(self, statements: Sequence[Write], kind: Any) -> BatchStatement:
        batch = BatchStatement(batch_type=kind, consistency_level=self.write_cl)
        for query, params in statements:
            batch.add(self.prepare(query), params)
        return batch
