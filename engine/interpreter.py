"""The SCXML 1.0 algorithm (W3C Recommendation, Appendix D), one step at a time.

Method names follow Appendix D so that the code can be read against the spec. The
blocking ``mainEventLoop`` is cut into :meth:`Interpreter.start` (initial entry and
its macrostep) and :meth:`Interpreter.process_external_event` (one external event and
its macrostep); the host calls them with the current time and collects the effects.
States are numbered in document order (see :mod:`engine.model`), so the
configuration is a set of ints, entry order is ascending and exit order descending.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine import model as m
from engine.datamodel.base import DataModel, ScriptError
from engine.document import resolve_url, transition_domain
from engine.effects import CancelChild, Effect, Log, SendToSession, SendToUrl, StartChild
from engine.events import Event
from engine.executable import ActionError, evaluate_data, execute_block
from engine.ioprocessor import INVOKE_TYPES, SCXML_TYPE, Route, resolve_target
from engine.model import StateKind
from orchestrion.errors import DocumentFetchError, MacrostepLimitError

Loader = Callable[[str], str]
CANCELLED_CHILDREN_KEPT = 64
DEFAULT_MAX_MICROSTEPS = 100_000
SELECTION_CACHE_SIZE = 4096


@dataclass(frozen=True)
class PendingSend:
    """A delayed ``<send>`` waiting in the session until ``due`` (epoch seconds)."""

    due: float
    seq: int
    sendid: str
    route: Route
    event: Event

    def __lt__(self, other: PendingSend) -> bool:
        return (self.due, self.seq) < (other.due, other.seq)


@dataclass(frozen=True)
class ActiveInvoke:
    """A child session started by ``<invoke>`` in ``state`` (the ``index``-th invoke)."""

    sessionid: str
    state: int
    index: int


def child_ended(parent: str, sessionid: str, invokeid: str, reason: str) -> SendToSession:
    """What parent ``parent`` is sent when its child ``sessionid`` ended without reaching a
    top-level ``<final>`` and not at the parent's request (terminated, failed, lost with its
    node).

    SCXML leaves this case open; platform-specific errors are named ``error.platform``.
    The name ends with the invokeid, as ``done.invoke.<invokeid>`` does.
    """
    event = Event(
        f"error.platform.invoke.{invokeid}",
        type="external",
        origin=f"#_scxml_{sessionid}",
        origintype=SCXML_TYPE,
        invokeid=invokeid,
        data={"sessionid": sessionid, "reason": reason},
    )
    return SendToSession(parent, event)


class Interpreter:
    """One session's running interpreter: configuration, queues, history, invokes.

    ``max_microsteps`` bounds one macrostep, so that an endless loop of eventless
    transitions or internal events ends with :class:`MacrostepLimitError`.
    """

    max_microsteps = DEFAULT_MAX_MICROSTEPS

    def __init__(
        self,
        doc: m.Document,
        datamodel: DataModel,
        *,
        sessionid: str,
        parent: str | None,
        invokeid: str | None,
        ioprocessors: dict[str, Any],
        loader: Loader | None,
        id_factory: Callable[[], str],
        session_exists: Callable[[str], bool] | None,
    ) -> None:
        self.doc = doc
        self.states = doc.states
        self.datamodel = datamodel
        self.sessionid = sessionid
        self.parent = parent
        self.invokeid = invokeid
        self.ioprocessors = ioprocessors
        self.loader = loader
        self.id_factory = id_factory
        self.session_exists = session_exists
        self.configuration: set[int] = set()
        self.states_to_invoke: set[int] = set()
        self.internal_queue: deque[Event] = deque()
        self.external_queue: deque[Event] = deque()
        self.history_value: dict[int, tuple[int, ...]] = {}
        self.data_initialized: set[int] = set()
        self.pending: list[PendingSend] = []
        self.send_seq = 0
        self.invokes: dict[str, ActiveInvoke] = {}
        # origins of the latest cancelled children, whose later events are dropped
        self.cancelled_children: deque[str] = deque(maxlen=CANCELLED_CHILDREN_KEPT)
        self.started = False
        self.running = True
        self.final_state: int | None = None
        self.last_configuration: list[int] = []
        self.effects: list[Effect] = []
        self.now = 0.0
        self._atomic: list[int] | None = None

    # -- the host's entry points ---------------------------------------------------------
    def start(self, now: float, data: dict[str, Any]) -> None:
        """``interpret(doc)``: bind data, run global scripts, enter the initial states."""
        self.now = now
        self.started = True
        root = self.doc.root
        if self.doc.binding == "early":
            for state in self.states:
                self.initialize_data(state, data)
        else:
            self.initialize_data(root, data)
        if self.parent is None:
            # a host's start data may name variables the document does not declare;
            # an invoker's params may not (W3C 245)
            declared = {d.id for s in self.states for d in s.data}
            for key, value in data.items():
                if key not in declared:
                    try:
                        self.datamodel.declare(key, value=value)
                    except ScriptError as exc:
                        self.raise_error("error.execution", str(exc))
        for script in self.doc.scripts:
            execute_block(self, (script,))
        assert root.initial is not None
        self.enter_states([root.initial])
        self.macrostep()

    def process_external_event(self, event: Event, now: float) -> None:
        """One pass of ``mainEventLoop`` after the blocking dequeue of an external event."""
        self.now = now
        self.datamodel.set_event(event)
        for invokeid, active in list(self.invokes.items()) if self.invokes else ():
            if active.state not in self.configuration:
                continue
            invoke = self.states[active.state].invokes[active.index]
            if invokeid == event.invokeid:
                execute_block(self, invoke.finalize)
            if invoke.autoforward:
                self.effects.append(SendToSession(active.sessionid, event))
        enabled = self.select_transitions(event)
        if enabled:
            self.microstep(enabled)
        self.macrostep()

    def accept_external_event(self, event: Event) -> None:
        """Queue an external event, unless it comes from a cancelled child (section 6.4)."""
        if self.running and (event.origin is None or event.origin not in self.cancelled_children):
            self.external_queue.append(event)

    def release_due_sends(self, now: float) -> None:
        """Move every delayed send due by ``now`` to its destination, in due order."""
        while self.pending and self.pending[0].due <= now:
            self.deliver(heapq.heappop(self.pending))

    def terminate(self, now: float, reason: str | None = None) -> None:
        """Stop the session as if cancelled: exit every state, cancel children.

        ``reason`` is given when something other than the parent stopped it: the parent, if
        any, is then told (it would otherwise wait for a ``done.invoke`` forever).
        """
        self.now = now
        if self.running:
            self.running = False
            self.exit_interpreter()
            if reason is not None and self.parent is not None and self.invokeid is not None:
                self.effects.append(child_ended(self.parent, self.sessionid, self.invokeid, reason))

    # -- mainEventLoop, the internal part -------------------------------------------------
    def macrostep(self) -> None:
        """Eventless transitions and internal events until stable, then invoke."""
        while True:
            self.process_internal_events()
            if not self.running:
                break
            for state in sorted(self.states_to_invoke):
                for index, invoke in enumerate(self.states[state].invokes):
                    self.invoke(invoke, index)
            self.states_to_invoke.clear()
            if not self.internal_queue:
                break
        if not self.running:
            self.exit_interpreter()

    def process_internal_events(self) -> None:
        """The inner loop of ``mainEventLoop``: eventless transitions, then internal events."""
        microsteps = 0
        while self.running:
            microsteps += 1
            if microsteps > self.max_microsteps:
                raise MacrostepLimitError(
                    f"a macrostep took more than {self.max_microsteps} microsteps "
                    "(an endless loop of eventless transitions or internal events?)"
                )
            enabled = self.select_eventless_transitions()
            if not enabled:
                if not self.internal_queue:
                    return
                internal_event = self.internal_queue.popleft()
                self.datamodel.set_event(internal_event)
                enabled = self.select_transitions(internal_event)
            if enabled:
                self.microstep(enabled)

    def exit_interpreter(self) -> None:
        self.last_configuration = sorted(self.configuration)
        for index in sorted(self.configuration, reverse=True):
            state = self.exit_state(index)
            if state.kind is StateKind.FINAL and state.parent == 0:
                self.final_state = index
                self.return_done_event(state)
        self.pending.clear()

    def return_done_event(self, state: m.State) -> None:
        """The ``done.invoke`` event a finished child sends to its parent."""
        if self.parent is None or self.invokeid is None:
            return
        data = self.done_data(state)
        event = Event(
            f"done.invoke.{self.invokeid}",
            type="external",
            origin=f"#_scxml_{self.sessionid}",
            origintype=SCXML_TYPE,
            invokeid=self.invokeid,
            data=data,
        )
        self.effects.append(SendToSession(self.parent, event))

    # -- selecting transitions --------------------------------------------------------------
    def atomic_states(self) -> list[int]:
        if self._atomic is None:
            self._atomic = sorted(s for s in self.configuration if self.states[s].atomic)
        return self._atomic

    def select_eventless_transitions(self) -> list[m.Transition]:
        return self._select(None)

    def select_transitions(self, event: Event) -> list[m.Transition]:
        return self._select(event.name)

    def _select(self, name: str | None) -> list[m.Transition]:
        """For each atomic state, the first enabled transition of it or its ancestors."""
        enabled: list[m.Transition] = []
        states = self.states
        cache = self.doc.selection_cache
        for atomic in self.atomic_states():
            if name is None:
                chain = states[atomic].eventless
            else:
                found = cache.get((atomic, name))
                if found is None:
                    found = tuple(t for t in states[atomic].triggered if t.matches(name))
                    if len(cache) >= SELECTION_CACHE_SIZE:
                        cache.clear()
                    cache[(atomic, name)] = found
                chain = found
            for t in chain:
                if self.condition_match(t):
                    if t not in enabled:
                        enabled.append(t)
                    break
        if len(enabled) > 1:
            return self.remove_conflicting_transitions(enabled)
        return enabled

    def condition_match(self, t: m.Transition) -> bool:
        if t.cond is None:
            return True
        try:
            return self.datamodel.condition(t.cond)
        except ScriptError as exc:
            self.raise_error("error.execution", str(exc))
            return False

    def remove_conflicting_transitions(
        self, enabled_transitions: list[m.Transition]
    ) -> list[m.Transition]:
        filtered: list[m.Transition] = []
        exit_sets: dict[int, set[int]] = {}
        for t1 in enabled_transitions:
            t1_preempted = False
            to_remove: list[m.Transition] = []
            exit1 = self.compute_exit_set([t1])
            exit_sets[t1.index] = exit1
            for t2 in filtered:
                if exit1 & exit_sets[t2.index]:
                    if self.states[t2.source].is_ancestor_of(self.states[t1.source]):
                        to_remove.append(t2)
                    else:
                        t1_preempted = True
                        break
            if not t1_preempted:
                for t3 in to_remove:
                    filtered.remove(t3)
                filtered.append(t1)
        return filtered

    # -- microstep --------------------------------------------------------------------------
    def microstep(self, enabled_transitions: list[m.Transition]) -> None:
        self.exit_states(enabled_transitions)
        self.execute_transition_content(enabled_transitions)
        self.enter_states(enabled_transitions)

    def exit_states(self, enabled_transitions: list[m.Transition]) -> None:
        states_to_exit = sorted(self.compute_exit_set(enabled_transitions), reverse=True)
        if not states_to_exit:
            return
        self.states_to_invoke.difference_update(states_to_exit)
        for index in states_to_exit:
            state = self.states[index]
            for history in state.history:
                if self.states[history].deep_history:
                    value = [
                        s
                        for s in self.configuration
                        if self.states[s].atomic and state.is_ancestor_of(self.states[s])
                    ]
                else:
                    value = [s for s in self.configuration if self.states[s].parent == index]
                self.history_value[history] = tuple(sorted(value))
        for index in states_to_exit:
            self.exit_state(index)

    def exit_state(self, index: int) -> m.State:
        """Run one state's ``<onexit>``, cancel its invocations, leave it."""
        state = self.states[index]
        for block in state.onexit:
            execute_block(self, block)
        self.cancel_invokes(index)
        self.configuration.discard(index)
        self._atomic = None
        return state

    def compute_exit_set(self, transitions: list[m.Transition]) -> set[int]:
        states_to_exit: set[int] = set()
        for t in transitions:
            if t.targets:
                domain = self.states[self.get_transition_domain(t)]
                states_to_exit.update(
                    s for s in self.configuration if domain.index < s <= domain.last_descendant
                )
        return states_to_exit

    def execute_transition_content(self, enabled_transitions: list[m.Transition]) -> None:
        for t in enabled_transitions:
            if t.actions:
                execute_block(self, t.actions)

    def enter_states(self, enabled_transitions: list[m.Transition]) -> None:
        states_to_enter: set[int] = set()
        states_for_default_entry: set[int] = set()
        default_history_content: dict[int, m.Block] = {}
        self.compute_entry_set(
            enabled_transitions, states_to_enter, states_for_default_entry, default_history_content
        )
        for index in sorted(states_to_enter):
            state = self.states[index]
            self.configuration.add(index)
            self._atomic = None
            if state.invokes:
                self.states_to_invoke.add(index)
            if self.doc.binding == "late" and index not in self.data_initialized:
                self.initialize_data(state, {})
            for block in state.onentry:
                execute_block(self, block)
            if index in states_for_default_entry and state.initial is not None:
                execute_block(self, state.initial.actions)
            content = default_history_content.get(index)
            if content:
                execute_block(self, content)
            if state.kind is StateKind.FINAL:
                if state.parent == 0:
                    self.running = False
                else:
                    parent = self.states[state.parent]
                    self.internal_queue.append(
                        Event(
                            f"done.state.{parent.id}",
                            type="internal",
                            data=self.done_data(state),
                        )
                    )
                    grandparent = self.states[parent.parent]
                    if grandparent.kind is StateKind.PARALLEL and all(
                        self.is_in_final_state(self.states[c]) for c in grandparent.children
                    ):
                        self.internal_queue.append(
                            Event(f"done.state.{grandparent.id}", type="internal")
                        )

    def compute_entry_set(
        self,
        transitions: list[m.Transition],
        states_to_enter: set[int],
        states_for_default_entry: set[int],
        default_history_content: dict[int, m.Block],
    ) -> None:
        for t in transitions:
            for s in t.targets:
                self.add_descendant_states_to_enter(
                    s, states_to_enter, states_for_default_entry, default_history_content
                )
            ancestor = self.get_transition_domain(t) if t.targets else None
            for s in self.get_effective_target_states(t):
                self.add_ancestor_states_to_enter(
                    s, ancestor, states_to_enter, states_for_default_entry, default_history_content
                )

    def add_descendant_states_to_enter(
        self,
        index: int,
        states_to_enter: set[int],
        states_for_default_entry: set[int],
        default_history_content: dict[int, m.Block],
    ) -> None:
        state = self.states[index]
        if state.kind is StateKind.HISTORY:
            remembered = self.history_value.get(index)
            if remembered:
                targets: tuple[int, ...] = remembered
            else:
                assert state.initial is not None
                default_history_content[state.parent] = state.initial.actions
                targets = state.initial.targets
            for s in targets:
                self.add_descendant_states_to_enter(
                    s, states_to_enter, states_for_default_entry, default_history_content
                )
            for s in targets:
                self.add_ancestor_states_to_enter(
                    s,
                    state.parent,
                    states_to_enter,
                    states_for_default_entry,
                    default_history_content,
                )
            return
        states_to_enter.add(index)
        if state.kind is StateKind.COMPOUND:
            states_for_default_entry.add(index)
            assert state.initial is not None
            for s in state.initial.targets:
                self.add_descendant_states_to_enter(
                    s, states_to_enter, states_for_default_entry, default_history_content
                )
            for s in state.initial.targets:
                self.add_ancestor_states_to_enter(
                    s, index, states_to_enter, states_for_default_entry, default_history_content
                )
        elif state.kind is StateKind.PARALLEL:
            self._enter_parallel_children(
                state, states_to_enter, states_for_default_entry, default_history_content
            )

    def _enter_parallel_children(
        self,
        state: m.State,
        states_to_enter: set[int],
        states_for_default_entry: set[int],
        default_history_content: dict[int, m.Block],
    ) -> None:
        for child in state.children:
            last = self.states[child].last_descendant
            if not any(child <= s <= last for s in states_to_enter):
                self.add_descendant_states_to_enter(
                    child, states_to_enter, states_for_default_entry, default_history_content
                )

    def add_ancestor_states_to_enter(
        self,
        index: int,
        ancestor: int | None,
        states_to_enter: set[int],
        states_for_default_entry: set[int],
        default_history_content: dict[int, m.Block],
    ) -> None:
        for anc in self.get_proper_ancestors(index, ancestor):
            states_to_enter.add(anc)
            state = self.states[anc]
            if state.kind is StateKind.PARALLEL:
                self._enter_parallel_children(
                    state, states_to_enter, states_for_default_entry, default_history_content
                )

    def get_proper_ancestors(self, index: int, ancestor: int | None) -> list[int]:
        """Ancestors of ``index`` up to, not including, ``ancestor`` (the root if None)."""
        result = []
        for anc in self.states[index].ancestors:
            if anc in (ancestor, 0):
                break
            result.append(anc)
        return result

    def is_in_final_state(self, state: m.State) -> bool:
        if state.kind is StateKind.COMPOUND:
            return any(
                self.states[c].kind is StateKind.FINAL and c in self.configuration
                for c in state.children
            )
        if state.kind is StateKind.PARALLEL:
            return all(self.is_in_final_state(self.states[c]) for c in state.children)
        return False

    def get_transition_domain(self, t: m.Transition) -> int:
        """Precomputed unless a target is a history state (then ``transition_domain``,
        which ends in ``find_lcca``, runs on the effective targets)."""
        if t.static_domain is not None:
            return t.static_domain
        return transition_domain(
            self.states, t.source, self.get_effective_target_states(t), t.internal
        )

    def get_effective_target_states(self, t: m.Transition) -> list[int]:
        targets: list[int] = []
        for s in t.targets:
            state = self.states[s]
            if state.kind is StateKind.HISTORY:
                remembered = self.history_value.get(s)
                if remembered:
                    found: list[int] | tuple[int, ...] = remembered
                else:
                    assert state.initial is not None
                    found = self.get_effective_target_states(state.initial)
                targets.extend(x for x in found if x not in targets)
            elif s not in targets:
                targets.append(s)
        return targets

    # -- data model -------------------------------------------------------------------------
    def initialize_data(self, state: m.State, overrides: dict[str, Any]) -> None:
        self.data_initialized.add(state.index)
        for data in state.data:
            try:
                if data.id in overrides:
                    self.datamodel.declare(data.id, value=overrides[data.id])
                elif data.fetch_error is not None:
                    self.datamodel.declare(data.id)
                    raise ActionError(data.fetch_error)
                elif data.expr is not None:
                    try:
                        self.datamodel.declare(data.id, expr=data.expr)
                    except ScriptError:
                        self.datamodel.declare(data.id)
                        raise
                else:
                    self.datamodel.declare(data.id, value=data.value)
            except (ScriptError, ActionError) as exc:
                self.raise_error("error.execution", str(exc))

    def done_data(self, state: m.State) -> Any:
        donedata = state.donedata
        if donedata is None:
            return None
        try:
            return evaluate_data(self.datamodel, (), donedata.params, donedata.content)
        except (ScriptError, ActionError) as exc:
            self.raise_error("error.execution", str(exc))
            return None

    # -- invoke -----------------------------------------------------------------------------
    def invoke(self, invoke: m.Invoke, index: int) -> None:
        state = self.states[invoke.state]
        invokeid = invoke.id or f"{state.id}.{self.id_factory()}"
        dm = self.datamodel
        try:
            if invoke.idlocation is not None:
                dm.assign_value(invoke.idlocation, invokeid)
            invoke_type = (
                invoke.type if invoke.typeexpr is None else str(dm.evaluate(invoke.typeexpr))
            )
            if invoke_type is not None and invoke_type not in INVOKE_TYPES:
                raise ActionError(f"unsupported invoke type {invoke_type!r}")
            source, location = self._invoke_source(invoke)
            data = evaluate_data(dm, invoke.namelist, invoke.params, None) or {}
        except (ScriptError, ActionError) as exc:
            self.raise_error("error.execution", str(exc))
            return
        child = self.id_factory()
        self.invokes[invokeid] = ActiveInvoke(child, invoke.state, index)
        self.effects.append(
            StartChild(
                sessionid=child,
                invokeid=invokeid,
                parent_sessionid=self.sessionid,
                source=source,
                location=location,
                data=data,
            )
        )

    def _invoke_source(self, invoke: m.Invoke) -> tuple[str, str | None]:
        if invoke.content is not None:
            value = (
                self.datamodel.evaluate(invoke.content.expr)
                if invoke.content.expr is not None
                else invoke.content.value
            )
            if isinstance(value, dict) and "$xml" in value:
                value = value["$xml"]
            if not isinstance(value, str):
                raise ActionError("<invoke> content is not an SCXML document")
            return value, self.doc.location
        src = invoke.src if invoke.srcexpr is None else str(self.datamodel.evaluate(invoke.srcexpr))
        if src is None:
            raise ActionError("<invoke> needs 'src', 'srcexpr' or <content>")
        url = resolve_url(self.doc.location, src)
        if self.loader is None:
            raise ActionError(f"no loader to fetch {url!r}")
        try:
            return self.loader(url), url
        except DocumentFetchError as exc:
            raise ActionError(str(exc)) from exc

    def cancel_invokes(self, index: int) -> None:
        if not self.states[index].invokes:
            return
        for invokeid, active in list(self.invokes.items()):
            if active.state == index:
                del self.invokes[invokeid]
                self.cancelled_children.append(f"#_scxml_{active.sessionid}")
                self.effects.append(CancelChild(active.sessionid, invokeid))

    # -- ExecutionContext -------------------------------------------------------------------
    def raise_internal(self, event: Event) -> None:
        self.internal_queue.append(event)

    def raise_error(self, name: str, message: str, sendid: str | None = None) -> None:
        self.internal_queue.append(
            Event(name, type="platform", sendid=sendid, data={"message": message})
        )

    def resolve_send(self, send_type: str, target: str | None) -> Route:
        children = {k: v.sessionid for k, v in self.invokes.items()}
        return resolve_target(
            send_type,
            target,
            sessionid=self.sessionid,
            parent=self.parent,
            children=children,
            session_exists=self.session_exists,
        )

    def dispatch(self, event: Event, route: Route, delay_s: float, sendid: str) -> None:
        if route.kind != "internal":
            event = Event(
                event.name,
                type="external",
                sendid=event.sendid,
                origin=f"#_scxml_{self.sessionid}",
                origintype=SCXML_TYPE,
                invokeid=self.invokeid if route.kind == "parent" else None,
                data=event.data,
            )
        if delay_s > 0:
            self.send_seq += 1
            heapq.heappush(
                self.pending, PendingSend(self.now + delay_s, self.send_seq, sendid, route, event)
            )
            return
        self.deliver(PendingSend(self.now, 0, sendid, route, event))

    def deliver(self, send: PendingSend) -> None:
        route = send.route
        if route.kind == "internal":
            self.internal_queue.append(send.event)
        elif route.kind == "self":
            self.accept_external_event(send.event)
        elif route.kind == "url":
            assert route.url is not None
            self.effects.append(SendToUrl(route.url, send.event))
        else:
            assert route.sessionid is not None
            self.effects.append(SendToSession(route.sessionid, send.event))

    def cancel_send(self, sendid: str) -> None:
        kept = [p for p in self.pending if p.sendid != sendid]
        if len(kept) != len(self.pending):
            heapq.heapify(kept)
            self.pending = kept

    def log(self, label: str | None, value: Any) -> None:
        self.effects.append(Log(label, value))

    def new_id(self) -> str:
        return self.id_factory()

    def in_state(self, state_id: str) -> bool:
        index = self.doc.by_id.get(state_id)
        return index is not None and index in self.configuration
