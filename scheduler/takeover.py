"""Dead-node detection and handover of its sessions to live workers.

The scan (the ``system:takeover-scan`` item, run by one beat at a time) reads every
node's heartbeat. A worker whose last heartbeat is older than the handover delay is dead:
each of its stored sessions is woken (``SessionControl.wake``); the worker that runs it
takes the lease (free by then) and re-owns it, which moves it out of the dead node's index.
The session's mailbox is the truth, so every accepted event is applied once (the lease
fence and the snapshot's ``applied_seq`` stop a second application). Sessions are woken
again every ``rewake_s`` until they have moved; the node is removed once none is left.

The handover delay is ``dead_node_after`` but at least one heartbeat interval plus the
lease TTL (a lease renewed just after the last heartbeat must have expired), plus
``max_clock_skew`` because the heartbeat time was written by the dead node's clock. Silence
counts from the end of the last store outage this beat saw, when no node could heartbeat.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from orchestrion.config import Config
from persistence.contract import NodeInfo, Store
from scheduler.control import SessionControl

log = logging.getLogger(__name__)

BEAT_ROLE = "beat"


@dataclass
class TakeoverReport:
    """What one scan did."""

    dead: list[str] = field(default_factory=list)
    woken: int = 0
    removed: list[str] = field(default_factory=list)


class Takeover:
    """Hands the sessions of dead workers to live ones."""

    def __init__(self, store: Store, control: SessionControl, config: Config) -> None:
        self._store = store
        self._control = control
        scheduler = config.scheduler
        self.handover_delay_s = (
            max(
                scheduler.dead_node_after,
                config.worker.heartbeat_interval + config.worker.lease_ttl,
            )
            + scheduler.max_clock_skew
        )
        self.rewake_s = max(config.worker.lease_ttl, 5.0)
        self._woken_at: dict[str, float] = {}

    def is_dead(self, node: NodeInfo, now: float) -> bool:
        return self._store.alarm.silent_for(node.heartbeat_at, now) > self.handover_delay_s

    def scan(self, now: float) -> TakeoverReport:
        report = TakeoverReport()
        pending: set[str] = set()
        for node in self._store.nodes():
            if not self.is_dead(node, now):
                continue
            report.dead.append(node.node)
            if node.info.get("role") == BEAT_ROLE:
                self._store.remove_node(node.node)  # a beat owns no sessions
                report.removed.append(node.node)
                continue
            left = [s for s in self._store.sessions_of(node.node) if self._is_stored(s)]
            if not left:
                self._store.remove_node(node.node)
                report.removed.append(node.node)
                log.info("dead node %s removed: its sessions were taken over", node.node)
                continue
            pending.update(left)
            report.woken += self._wake(node.node, left, now)
        # Keep throttling only sessions still waiting to move.
        self._woken_at = {s: t for s, t in self._woken_at.items() if s in pending}
        return report

    def _wake(self, node: str, sessionids: list[str], now: float) -> int:
        woken = 0
        for sessionid in sessionids:
            if now - self._woken_at.get(sessionid, float("-inf")) < self.rewake_s:
                continue
            self._control.wake(sessionid)
            self._woken_at[sessionid] = now
            woken += 1
        if woken:
            log.warning(
                "node %s is dead (no heartbeat for %.1f s): woke %d of its sessions for takeover",
                node,
                self.handover_delay_s,
                woken,
            )
        return woken

    def _is_stored(self, sessionid: str) -> bool:
        return self._store.read_session(sessionid) is not None
