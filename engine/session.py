"""``Session``: one running instance of a document, driven by its host step by step.

The host creates or restores a session, feeds it external events and the current time,
carries out the returned effects, and stores :meth:`Session.snapshot` between steps.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from engine import model as m
from engine.datamodel.base import DataModel
from engine.effects import Effect
from engine.events import Event
from engine.interpreter import ActiveInvoke, Interpreter, Loader, PendingSend
from engine.ioprocessor import Route, ioprocessors_for
from orchestrion.errors import SnapshotError

SNAPSHOT_FORMAT = 1
DataModelFactory = Callable[[str], DataModel]


@dataclass(frozen=True)
class StepResult:
    """What one call into the session produced.

    ``status`` is ``"final"`` once the session has ended: ``final_state`` is then the id
    of the top-level ``<final>`` reached, or None when it was terminated.
    """

    effects: list[Effect] = field(default_factory=list)
    status: Literal["running", "final"] = "running"
    final_state: str | None = None
    next_wakeup: float | None = None


def _uuid_hex() -> str:
    return uuid.uuid4().hex


def _default_datamodel(name: str) -> DataModel:
    from engine.datamodel import create

    return create(name)


class Session:
    """A session of a document; see ``docs/architecture.md`` for the host's side."""

    def __init__(self, doc: m.Document, interpreter: Interpreter, data: dict[str, Any]) -> None:
        self.doc = doc
        self._interp = interpreter
        self._initial_data = data

    # -- creation ---------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        doc: m.Document,
        sessionid: str | None = None,
        data: dict[str, Any] | None = None,
        parent: str | None = None,
        loader: Loader | None = None,
        *,
        invokeid: str | None = None,
        ioprocessors: dict[str, Any] | None = None,
        id_factory: Callable[[], str] = _uuid_hex,
        session_exists: Callable[[str], bool] | None = None,
        datamodel_factory: DataModelFactory = _default_datamodel,
    ) -> Session:
        """A new session, not yet started.

        ``parent``/``invokeid`` are set for an invoked child. ``ioprocessors`` adds to
        ``_ioprocessors`` (e.g. the basichttp location). ``id_factory`` makes child
        session ids, invoke and send ids. ``session_exists`` lets ``<send>`` to
        ``#_scxml_<id>`` raise ``error.communication`` at once for an unknown session.
        """
        sessionid = sessionid or id_factory()
        interpreter = _new_interpreter(
            doc,
            sessionid=sessionid,
            parent=parent,
            invokeid=invokeid,
            extra_ioprocessors=ioprocessors or {},
            loader=loader,
            id_factory=id_factory,
            session_exists=session_exists,
            datamodel_factory=datamodel_factory,
        )
        return cls(doc, interpreter, dict(data or {}))

    # -- properties -------------------------------------------------------------------------
    @property
    def sessionid(self) -> str:
        return self._interp.sessionid

    @property
    def parent(self) -> str | None:
        return self._interp.parent

    @property
    def invokeid(self) -> str | None:
        return self._interp.invokeid

    @property
    def started(self) -> bool:
        return self._interp.started

    @property
    def running(self) -> bool:
        return self._interp.running

    @property
    def configuration(self) -> list[str]:
        """Active state ids in document order."""
        states = self.doc.states
        return [states[i].id for i in sorted(self._interp.configuration)]

    @property
    def last_configuration(self) -> list[str]:
        """The configuration just before the session ended (empty while it runs)."""
        states = self.doc.states
        return [states[i].id for i in self._interp.last_configuration]

    @property
    def children(self) -> dict[str, str]:
        """Active invocations: invoke id to child session id."""
        return {k: v.sessionid for k, v in self._interp.invokes.items()}

    @property
    def next_wakeup(self) -> float | None:
        pending = self._interp.pending
        return pending[0].due if pending and self._interp.running else None

    @property
    def has_queued_events(self) -> bool:
        return bool(self._interp.external_queue)

    def query(self) -> dict[str, Any]:
        return {"configuration": self.configuration, "datamodel": self._interp.datamodel.values()}

    # -- stepping ---------------------------------------------------------------------------
    def start(self, now: float) -> StepResult:
        """Initial entry and its macrostep(s), until stable."""
        if self._interp.started:
            raise RuntimeError("session already started")
        self._interp.start(now, self._initial_data)
        self._initial_data = {}
        return self._result()

    def enqueue(self, event: Event) -> None:
        """Queue an external event for the next :meth:`run` (dropped if from a cancelled child)."""
        self._interp.accept_external_event(event)

    def run(self, now: float, max_events: int | None = None) -> StepResult:
        """Release due delayed sends, then process queued external events, one macrostep each.

        ``max_events`` bounds how many external events this call processes.
        """
        interp = self._interp
        if not interp.started:
            raise RuntimeError("session not started")
        processed = 0
        while interp.running and (max_events is None or processed < max_events):
            interp.release_due_sends(now)
            if not interp.external_queue:
                break
            interp.process_external_event(interp.external_queue.popleft(), now)
            processed += 1
        return self._result()

    def terminate(self, now: float, reason: str | None = None) -> StepResult:
        """Exit every state (running ``<onexit>``) and cancel every child.

        Give ``reason`` unless the parent asked for it: the parent is then told why.
        """
        self._interp.terminate(now, reason)
        return self._result()

    def _result(self) -> StepResult:
        interp = self._interp
        effects, interp.effects = interp.effects, []
        if interp.running:
            return StepResult(effects, "running", None, self.next_wakeup)
        final = interp.final_state
        return StepResult(effects, "final", None if final is None else self.doc.states[final].id)

    def close(self) -> None:
        """Release the data model (its JavaScript context)."""
        self._interp.datamodel.close()

    # -- snapshot and restore ---------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Everything needed to continue elsewhere, as JSON-serialisable data."""
        interp = self._interp
        states = self.doc.states
        return {
            "format": SNAPSHOT_FORMAT,
            "document_hash": self.doc.content_hash,
            "sessionid": interp.sessionid,
            "parent": interp.parent,
            "invokeid": interp.invokeid,
            "ioprocessors": _extra_ioprocessors(interp),
            "started": interp.started,
            "running": interp.running,
            "final_state": None if interp.final_state is None else states[interp.final_state].id,
            "initial_data": self._initial_data,
            "configuration": [states[i].id for i in sorted(interp.configuration)],
            "states_to_invoke": [states[i].id for i in sorted(interp.states_to_invoke)],
            "data_initialized": [states[i].id for i in sorted(interp.data_initialized)],
            "history": {
                states[h].id: [states[i].id for i in value]
                for h, value in interp.history_value.items()
            },
            "internal_queue": [e.to_json() for e in interp.internal_queue],
            "external_queue": [e.to_json() for e in interp.external_queue],
            "pending_sends": [
                {
                    "due": p.due,
                    "seq": p.seq,
                    "sendid": p.sendid,
                    "route": p.route.to_json(),
                    "event": p.event.to_json(),
                }
                for p in sorted(interp.pending)
            ],
            "send_seq": interp.send_seq,
            "cancelled_children": list(interp.cancelled_children),
            "invokes": {
                invokeid: {"sessionid": a.sessionid, "state": states[a.state].id, "index": a.index}
                for invokeid, a in interp.invokes.items()
            },
            "datamodel": interp.datamodel.snapshot(),
        }

    @classmethod
    def restore(
        cls,
        doc: m.Document,
        snapshot: dict[str, Any],
        loader: Loader | None = None,
        *,
        id_factory: Callable[[], str] = _uuid_hex,
        session_exists: Callable[[str], bool] | None = None,
        datamodel_factory: DataModelFactory = _default_datamodel,
    ) -> Session:
        """Bring a snapshot back to life; ``doc`` must be the document it was taken of."""
        if snapshot.get("format") != SNAPSHOT_FORMAT:
            raise SnapshotError(f"unknown snapshot format {snapshot.get('format')!r}")
        if snapshot.get("document_hash") != doc.content_hash:
            raise SnapshotError("the snapshot was taken of a different document")
        try:
            return cls._restore(
                doc,
                snapshot,
                loader=loader,
                id_factory=id_factory,
                session_exists=session_exists,
                datamodel_factory=datamodel_factory,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SnapshotError(f"corrupt snapshot: {exc!r}") from exc

    @classmethod
    def _restore(
        cls,
        doc: m.Document,
        snap: dict[str, Any],
        *,
        loader: Loader | None,
        id_factory: Callable[[], str],
        session_exists: Callable[[str], bool] | None,
        datamodel_factory: DataModelFactory,
    ) -> Session:
        interp = _new_interpreter(
            doc,
            sessionid=snap["sessionid"],
            parent=snap["parent"],
            invokeid=snap["invokeid"],
            extra_ioprocessors=snap["ioprocessors"],
            loader=loader,
            id_factory=id_factory,
            session_exists=session_exists,
            datamodel_factory=datamodel_factory,
        )
        index = doc.by_id
        interp.datamodel.restore(snap["datamodel"])
        interp.started = snap["started"]
        interp.running = snap["running"]
        interp.final_state = None if snap["final_state"] is None else index[snap["final_state"]]
        interp.configuration = {index[s] for s in snap["configuration"]}
        interp.states_to_invoke = {index[s] for s in snap["states_to_invoke"]}
        interp.data_initialized = {_state_index(doc, s) for s in snap["data_initialized"]}
        interp.history_value = {
            index[h]: tuple(index[s] for s in value) for h, value in snap["history"].items()
        }
        interp.internal_queue = deque(Event.from_json(e) for e in snap["internal_queue"])
        interp.external_queue = deque(Event.from_json(e) for e in snap["external_queue"])
        interp.pending = [
            PendingSend(
                p["due"],
                p["seq"],
                p["sendid"],
                Route.from_json(p["route"]),
                Event.from_json(p["event"]),
            )
            for p in snap["pending_sends"]
        ]
        interp.send_seq = snap["send_seq"]
        interp.cancelled_children.extend(snap["cancelled_children"])
        interp.invokes = {
            invokeid: ActiveInvoke(a["sessionid"], index[a["state"]], a["index"])
            for invokeid, a in snap["invokes"].items()
        }
        return cls(doc, interp, dict(snap["initial_data"]))


def _state_index(doc: m.Document, state_id: str) -> int:
    return 0 if state_id == doc.root.id else doc.by_id[state_id]


def _extra_ioprocessors(interp: Interpreter) -> dict[str, Any]:
    own = ioprocessors_for(interp.sessionid, None)
    return {k: v for k, v in interp.ioprocessors.items() if k not in own}


def _new_interpreter(
    doc: m.Document,
    *,
    sessionid: str,
    parent: str | None,
    invokeid: str | None,
    extra_ioprocessors: dict[str, Any],
    loader: Loader | None,
    id_factory: Callable[[], str],
    session_exists: Callable[[str], bool] | None,
    datamodel_factory: DataModelFactory,
) -> Interpreter:
    datamodel = datamodel_factory(doc.datamodel)
    ioprocessors = ioprocessors_for(sessionid, extra_ioprocessors)
    interp = Interpreter(
        doc,
        datamodel,
        sessionid=sessionid,
        parent=parent,
        invokeid=invokeid,
        ioprocessors=ioprocessors,
        loader=loader,
        id_factory=id_factory,
        session_exists=session_exists,
    )
    datamodel.setup(sessionid, doc.name, ioprocessors, interp.in_state)
    return interp
