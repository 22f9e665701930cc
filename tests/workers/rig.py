"""An in-process rig: a store, the facade and session hosts of several "nodes", no broker.

Wake-up messages are recorded instead of sent; a test drains sessions by calling the
hosts itself, so it decides which node runs what and when.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from orchestrion.config import Config, OrchestrationConfig
from persistence.contract import Store
from workers.cache import SessionCache
from workers.host import SessionHost
from workers.orchestrator import Orchestrator
from workers.outbox import Outbox
from workers.wakeups import Waker


@dataclass
class Node:
    """One simulated worker node: its facade (for outbox delivery), cache and host."""

    name: str
    orchestrator: Orchestrator
    cache: SessionCache
    host: SessionHost
    published: list[tuple[str, list[str]]] = field(default_factory=list)


def make_node(
    store: Store,
    name: str,
    config: Config | None = None,
    node_alive: Callable[[str], bool] = lambda node: True,
) -> Node:
    base = config or Config()
    config = dataclasses.replace(
        base, orchestration=OrchestrationConfig(sessionid_with_nodeid=False, node_id=name)
    )
    published: list[tuple[str, list[str]]] = []
    orchestrator = Orchestrator(config, store)
    orchestrator.waker = Waker(
        store, lambda queue, ids, delay_s: published.append((queue, ids)), config.worker.lease_ttl
    )
    cache = SessionCache(config.worker.cache_size)
    host = SessionHost(
        config=config,
        store=store,
        node=name,
        documents=orchestrator.documents,
        cache=cache,
        outbox=Outbox(orchestrator),
        waker=orchestrator.waker,
        node_alive=node_alive,
        route_of=orchestrator.route_of,
    )
    return Node(name, orchestrator, cache, host, published)
