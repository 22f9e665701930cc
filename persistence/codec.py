"""JSON forms of the small stored records, shared by the backends that store text."""

from __future__ import annotations

import json
from typing import Any

from persistence.contract import FinishedSession, NodeInfo, ScheduleItem


def dumps(value: Any) -> str:
    """Compact JSON (bytes stored per session matter)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def schedule_to_json(item: ScheduleItem) -> str:
    return dumps({"id": item.item_id, "due": item.due_at, "kind": item.kind, "p": item.payload})


def schedule_from_json(text: str) -> ScheduleItem:
    raw = json.loads(text)
    return ScheduleItem(item_id=raw["id"], due_at=raw["due"], kind=raw["kind"], payload=raw["p"])


def finished_to_json(finished: FinishedSession) -> str:
    return dumps({"f": finished.final_state, "t": finished.ended_at, "r": finished.reason})


def finished_from_json(sessionid: str, text: str) -> FinishedSession:
    raw = json.loads(text)
    return FinishedSession(sessionid, final_state=raw["f"], ended_at=raw["t"], reason=raw["r"])


def node_from_json(node: str, text: str) -> NodeInfo:
    raw = json.loads(text)
    return NodeInfo(node=node, heartbeat_at=raw["t"], info=raw["i"])


def node_to_json(heartbeat_at: float, info: dict[str, Any]) -> str:
    return dumps({"t": heartbeat_at, "i": info})


def outbox_to_json(outbox: tuple[str, ...]) -> str:
    """The outbox as one JSON array text; empty string for an empty outbox."""
    return dumps(list(outbox)) if outbox else ""


def outbox_from_json(text: str | None) -> tuple[str, ...]:
    return tuple(json.loads(text)) if text else ()
