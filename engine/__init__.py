"""The SCXML 1.0 interpreter (ECMAScript and null data models); pure, snapshot-able."""

from engine.document import load_document
from engine.events import Event
from engine.interpreter import child_ended
from engine.model import Document
from engine.session import Session, StepResult
from orchestrion.errors import MacrostepLimitError, SnapshotError

__all__ = [
    "Document",
    "Event",
    "MacrostepLimitError",
    "Session",
    "SnapshotError",
    "StepResult",
    "child_ended",
    "load_document",
]
