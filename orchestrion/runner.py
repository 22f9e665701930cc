"""``LocalRuntime``: run a session and its invoked children in this process, in real time.

It is the host the engine expects (``docs/architecture.md``) reduced to one process: it
carries out effects at once, keeps every session in a dict and sleeps until the next
delayed send is due. ``orchestrion run``, the W3C harness and the benchmarks use it.
With ``restore_each_step`` every session is snapshotted to JSON text after every
macrostep and brought back in a fresh interpreter and data model, which proves that
nothing a session needs lives outside its snapshot.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from engine import Event, Session, StepResult, load_document
from engine.datamodel.base import DataModel, ScriptError
from engine.document import Loader
from engine.effects import CancelChild, Effect, Log, SendToSession, SendToUrl, StartChild
from engine.model import Document
from engine.session import _default_datamodel
from orchestrion.errors import DocumentError, OrchestrionError
from orchestrion.fetching import Fetcher, file_url

Status = Literal["final", "idle", "timeout", "error"]
EXIT_CODES: dict[Status, int] = {"final": 0, "idle": 0, "timeout": 3, "error": 4}
EXIT_DOCUMENT_REJECTED = 2


@dataclass(frozen=True)
class RunResult:
    """How a local run ended; :meth:`to_json` is the last line ``orchestrion run`` prints."""

    sessionid: str
    status: Status
    final: str | None
    configuration: list[str]
    error: str | None = None
    logs: list[tuple[str | None, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "sessionid": self.sessionid,
            "status": self.status,
            "final": self.final,
            "configuration": self.configuration,
            "error": self.error,
        }


@dataclass
class _Hosted:
    session: Session
    doc: Document


class LocalRuntime:
    """Sessions of one run, in one process; the top session's end ends the run.

    ``log`` receives every ``<log>`` (label, value); by default logs are only kept in
    the result. ``clock``/``sleep`` are the real ones unless a test injects others.
    """

    def __init__(
        self,
        *,
        loader: Loader | None = None,
        restore_each_step: bool = False,
        log: Callable[[str | None, Any], None] | None = None,
        datamodel_factory: Callable[[str], DataModel] = _default_datamodel,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.loader = loader
        self.restore_each_step = restore_each_step
        self.log_sink = log
        self.datamodel_factory = datamodel_factory
        self.clock = clock
        self.sleep = sleep
        self.sessions: dict[str, _Hosted] = {}
        self.documents: dict[str, Document] = {}
        self.logs: list[tuple[str | None, Any]] = []
        self._finals: dict[str, tuple[str | None, list[str]]] = {}

    # -- documents --------------------------------------------------------------------------
    def load_path(self, path: Path) -> Document:
        """Load a document from disk; its folder becomes readable for its ``src``."""
        if self.loader is None:
            self.loader = Fetcher([path.resolve().parent])
        return self.load(path.read_text(encoding="utf-8"), file_url(path))

    def load(self, source: str, location: str | None = None) -> Document:
        doc = load_document(source, location, self.loader)
        return self.documents.setdefault(doc.content_hash, doc)

    # -- running ----------------------------------------------------------------------------
    def run_path(
        self, path: Path, events: Sequence[Event] = (), timeout_s: float = 60.0
    ) -> RunResult:
        return self.run(self.load_path(path), events, timeout_s)

    def run(
        self, doc: Document, events: Sequence[Event] = (), timeout_s: float = 60.0
    ) -> RunResult:
        """Start a session of ``doc``, deliver ``events``, run until final, idle or timeout."""
        deadline = self.clock() + timeout_s
        self.logs = []
        session = self._new_session(doc, uuid.uuid4().hex, None, None, {})
        top = session.sessionid
        try:
            self._step(top, lambda s: s.start(self.clock()))
            for event in events:
                if top in self.sessions:
                    self.sessions[top].session.enqueue(event)
            while top in self.sessions:
                busy = self._run_ready()
                if top not in self.sessions:
                    break
                hosted = self.sessions[top].session
                running_children = any(c in self.sessions for c in hosted.children.values())
                if not busy and not running_children and hosted.next_wakeup is None:
                    return self._result(top, "idle", None, hosted.configuration)
                now = self.clock()
                if now >= deadline:
                    return self._result(top, "timeout", None, hosted.configuration)
                if not busy:
                    wakeup = self._next_wakeup()
                    self.sleep(max(0.0, min(wakeup or deadline, deadline) - now))
            final, configuration = self._finals[top]
            return self._result(top, "final", final, configuration)
        except (OrchestrionError, ScriptError) as exc:
            return self._failed(top, str(exc))
        except Exception as exc:  # a bug must still end the run with a result line
            return self._failed(top, f"internal error: {type(exc).__name__}: {exc}")
        finally:
            for remaining in self.sessions.values():
                remaining.session.close()
            self.sessions.clear()

    def _failed(self, top: str, message: str) -> RunResult:
        config = self.sessions[top].session.configuration if top in self.sessions else []
        return self._result(top, "error", message, config)

    def _run_ready(self) -> bool:
        """Give every session with work one macrostep; False when none had work."""
        now = self.clock()
        progressed = False
        for sessionid in list(self.sessions):
            hosted = self.sessions.get(sessionid)
            if hosted is None:
                continue
            wakeup = hosted.session.next_wakeup
            if hosted.session.has_queued_events or (wakeup is not None and wakeup <= now):
                self._step(sessionid, lambda s: s.run(now, max_events=1))
                progressed = True
        return progressed

    def _next_wakeup(self) -> float | None:
        wakeups = [h.session.next_wakeup for h in self.sessions.values()]
        due = [w for w in wakeups if w is not None]
        return min(due) if due else None

    def _step(self, sessionid: str, call: Callable[[Session], StepResult]) -> StepResult:
        hosted = self.sessions[sessionid]
        result = call(hosted.session)
        if result.status == "final":
            self._finals[sessionid] = (result.final_state, hosted.session.last_configuration)
            hosted.session.close()
            del self.sessions[sessionid]
        elif self.restore_each_step:
            self._reincarnate(sessionid)
        self._carry_out(sessionid, result.effects)
        return result

    def _reincarnate(self, sessionid: str) -> None:
        """Snapshot to JSON text, drop every live object, restore from the text."""
        hosted = self.sessions[sessionid]
        text = json.dumps(hosted.session.snapshot())
        hosted.session.close()
        hosted.session = Session.restore(
            hosted.doc,
            json.loads(text),
            self.loader,
            session_exists=self._exists,
            datamodel_factory=self.datamodel_factory,
        )

    # -- effects ----------------------------------------------------------------------------
    def _carry_out(self, sender: str, effects: list[Effect]) -> None:
        for effect in effects:
            match effect:
                case Log():
                    self.logs.append((effect.label, effect.value))
                    if self.log_sink is not None:
                        self.log_sink(effect.label, effect.value)
                case SendToSession():
                    target = self.sessions.get(effect.sessionid)
                    if target is not None:
                        target.session.enqueue(effect.event)
                    else:
                        self._communication_error(sender, effect.event, "no such session")
                case SendToUrl():
                    self._communication_error(
                        sender, effect.event, "the local runtime does not send over HTTP"
                    )
                case StartChild():
                    self._start_child(effect)
                case CancelChild():
                    self._cancel(effect.sessionid)

    def _communication_error(self, sender: str, event: Event, message: str) -> None:
        hosted = self.sessions.get(sender)
        if hosted is not None:
            hosted.session.enqueue(
                Event(
                    "error.communication",
                    type="platform",
                    sendid=event.sendid,
                    data={"message": message},
                )
            )

    def _start_child(self, start: StartChild) -> None:
        try:
            doc = self.load(start.source, start.location)
        except DocumentError as exc:
            parent = self.sessions.get(start.parent_sessionid)
            if parent is not None:
                parent.session.enqueue(
                    Event("error.execution", type="platform", data={"message": str(exc)})
                )
            return
        self._new_session(doc, start.sessionid, start.parent_sessionid, start.invokeid, start.data)
        self._step(start.sessionid, lambda s: s.start(self.clock()))

    def _cancel(self, sessionid: str) -> None:
        hosted = self.sessions.get(sessionid)
        if hosted is not None:
            self._step(sessionid, lambda s: s.terminate(self.clock()))

    def _new_session(
        self,
        doc: Document,
        sessionid: str,
        parent: str | None,
        invokeid: str | None,
        data: dict[str, Any],
    ) -> Session:
        session = Session.create(
            doc,
            sessionid,
            data,
            parent,
            self.loader,
            invokeid=invokeid,
            session_exists=self._exists,
            datamodel_factory=self.datamodel_factory,
        )
        self.sessions[sessionid] = _Hosted(session, doc)
        return session

    def _exists(self, sessionid: str) -> bool:
        return sessionid in self.sessions

    def _result(
        self, top: str, status: Status, detail: str | None, configuration: list[str]
    ) -> RunResult:
        final = detail if status == "final" else None
        error = detail if status == "error" else None
        return RunResult(top, status, final, configuration, error, list(self.logs))


def parse_event_argument(text: str) -> Event:
    """``NAME`` or ``NAME:JSON`` from the command line."""
    name, sep, payload = text.partition(":")
    if not name:
        raise ValueError(f"event {text!r} has no name")
    data = json.loads(payload) if sep else None
    return Event(name, data=data)


def run_command(document: Path, events: list[str], timeout: float, restore_each_step: bool) -> int:
    """``orchestrion run``: print logs to stderr, the result as the last stdout line."""

    def log(label: str | None, value: Any) -> None:
        print(f"{label or 'log'}: {json.dumps(value)}", file=sys.stderr)

    try:
        parsed = [parse_event_argument(e) for e in events]
    except ValueError as exc:
        print(f"bad --event: {exc}", file=sys.stderr)
        print(json.dumps(RunResult("", "error", None, [], f"bad --event: {exc}").to_json()))
        return EXIT_CODES["error"]
    runtime = LocalRuntime(restore_each_step=restore_each_step, log=log)
    try:
        doc = runtime.load_path(document)
    except DocumentError as exc:
        print(f"{document}: {exc}", file=sys.stderr)
        return EXIT_DOCUMENT_REJECTED
    result = runtime.run(doc, parsed, timeout)
    print(json.dumps(result.to_json()))
    return EXIT_CODES[result.status]
