"""The compiled document model: what the interpreter runs, built once per document.

Everything here is immutable and shared by every session of a document. States and
transitions refer to each other by index: a state's index is its position in document
order (the ``<scxml>`` root is 0), so document order is integer order, and because the
numbering is a pre-order walk, ``b`` is a proper descendant of ``a`` exactly when
``a.index < b.index <= a.last_descendant``. The interpreter never sees XML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from orchestrion.errors import SourceLocation

SCXML_NS = "http://www.w3.org/2005/07/scxml"


class StateKind(Enum):
    ROOT = "scxml"
    ATOMIC = "atomic"
    COMPOUND = "compound"
    PARALLEL = "parallel"
    FINAL = "final"
    HISTORY = "history"


# -- executable content ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Param:
    """``<param>`` (or a ``namelist`` entry, where ``location`` is the name)."""

    name: str
    expr: str | None = None
    location: str | None = None


@dataclass(frozen=True, slots=True)
class Content:
    """``<content>``: an expression, or a literal value known at compile time.

    ``value`` is the literal content: JSON-compatible, with XML children carried as
    ``{"$xml": text}`` (see :class:`engine.events.Event`).
    """

    expr: str | None = None
    value: Any = None


@dataclass(frozen=True, slots=True)
class Raise:
    event: str
    location: SourceLocation


@dataclass(frozen=True, slots=True)
class Branch:
    """One arm of ``<if>``/``<elseif>``/``<else>`` (``cond`` is None for else)."""

    cond: str | None
    actions: tuple[Action, ...]


@dataclass(frozen=True, slots=True)
class If:
    branches: tuple[Branch, ...]
    location: SourceLocation


@dataclass(frozen=True, slots=True)
class Foreach:
    array: str
    item: str
    index: str | None
    actions: tuple[Action, ...]
    location: SourceLocation


@dataclass(frozen=True, slots=True)
class Log:
    label: str | None
    expr: str | None
    location: SourceLocation


@dataclass(frozen=True, slots=True)
class Assign:
    location_expr: str
    expr: str | None
    content: Content | None
    location: SourceLocation


@dataclass(frozen=True, slots=True)
class Script:
    """``<script>``; a ``src`` script was fetched at load time into ``source``."""

    source: str
    location: SourceLocation


@dataclass(frozen=True, slots=True)
class Send:
    event: str | None
    eventexpr: str | None
    target: str | None
    targetexpr: str | None
    type: str | None
    typeexpr: str | None
    id: str | None
    idlocation: str | None
    delay_s: float | None
    delayexpr: str | None
    namelist: tuple[str, ...]
    params: tuple[Param, ...]
    content: Content | None
    location: SourceLocation


@dataclass(frozen=True, slots=True)
class Cancel:
    sendid: str | None
    sendidexpr: str | None
    location: SourceLocation


Action = Raise | If | Foreach | Log | Assign | Script | Send | Cancel
Block = tuple[Action, ...]
"""One ``<onentry>``, ``<onexit>``, transition body or ``<finalize>``: an error stops it."""


# -- data, invoke, donedata --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Data:
    """``<data>``. ``value`` holds literal or fetched content; ``fetch_error`` a failed src."""

    id: str
    expr: str | None
    value: Any
    fetch_error: str | None
    location: SourceLocation


@dataclass(frozen=True, slots=True)
class DoneData:
    params: tuple[Param, ...]
    content: Content | None


@dataclass(frozen=True, slots=True)
class Invoke:
    type: str | None
    typeexpr: str | None
    src: str | None
    srcexpr: str | None
    id: str | None
    idlocation: str | None
    namelist: tuple[str, ...]
    params: tuple[Param, ...]
    content: Content | None
    autoforward: bool
    finalize: Block
    state: int
    location: SourceLocation


# -- states and transitions --------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Transition:
    """A ``<transition>`` (or an initial / default-history transition).

    ``events`` are the descriptors with any trailing ``.*`` or ``.`` removed; an event
    name matches a descriptor ``d`` when it equals ``d`` or starts with ``d + "."``,
    and ``"*"`` matches every name. ``static_domain`` is the transition domain when it
    does not depend on history values (``None`` when it does, or for a targetless one).
    """

    index: int
    source: int
    targets: tuple[int, ...]
    events: tuple[str, ...]
    cond: str | None
    internal: bool
    actions: Block
    static_domain: int | None
    location: SourceLocation

    def matches(self, name: str) -> bool:
        for descriptor in self.events:
            if descriptor in ("*", name):
                return True
            if name.startswith(descriptor) and name[len(descriptor)] == ".":
                return True
        return False


@dataclass(frozen=True, slots=True, eq=False)
class State:
    """A state, parallel, final, history or the ``<scxml>`` root itself (index 0)."""

    index: int
    id: str
    kind: StateKind
    parent: int
    children: tuple[int, ...]
    last_descendant: int
    ancestors: tuple[int, ...]
    initial: Transition | None
    transitions: tuple[Transition, ...]
    onentry: tuple[Block, ...]
    onexit: tuple[Block, ...]
    invokes: tuple[Invoke, ...]
    data: tuple[Data, ...]
    donedata: DoneData | None
    history: tuple[int, ...]
    deep_history: bool
    location: SourceLocation
    atomic: bool
    eventless: tuple[Transition, ...]
    triggered: tuple[Transition, ...]
    """``eventless``/``triggered``: this state's transitions then its ancestors', in the
    order ``selectTransitions`` tries them (precomputed for the hot path)."""

    def is_ancestor_of(self, other: State) -> bool:
        return self.index < other.index <= self.last_descendant


@dataclass(frozen=True, slots=True, eq=False)
class Document:
    """A loaded, validated SCXML document, shared by all its sessions.

    ``persist`` comes from ``<scxml _persist="true|false">`` (None when absent).
    """

    source: str
    content_hash: str
    location: str | None
    name: str | None
    datamodel: str
    binding: str
    persist: bool | None
    states: tuple[State, ...]
    transitions: tuple[Transition, ...]
    scripts: tuple[Script, ...]
    by_id: dict[str, int]
    selection_cache: dict[tuple[int, str], tuple[Transition, ...]] = field(
        default_factory=dict, repr=False
    )
    """(atomic state, event name) -> the ``triggered`` transitions whose descriptors match."""

    @property
    def root(self) -> State:
        return self.states[0]
