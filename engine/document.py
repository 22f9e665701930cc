"""``load_document``: parse SCXML safely, validate it, compile it into the document model.

Parsing is hardened: no DTD, no entity expansion, no network, bounded size and depth.
Everything that can be checked before running is checked here, and each error names
the element, attribute and line (:class:`orchestrion.errors.SourceLocation`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urljoin

from lxml import etree

from engine import model as m
from engine.datamodel import SUPPORTED
from engine.datamodel.content import parse_content
from engine.model import SCXML_NS, StateKind
from orchestrion.errors import DocumentError, DocumentFetchError, SourceLocation

Loader = Callable[[str], str]

MAX_SOURCE_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 128

STATE_TAGS = ("state", "parallel", "final", "history")
_DELAY = re.compile(r"^\s*(\d*\.?\d+)\s*(ms|s|m|h|d)\s*$")
_DELAY_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_delay(text: str) -> float | None:
    """A CSS2-style duration (``"500ms"``, ``"2s"``; also m, h, d) in seconds, or None."""
    match = _DELAY.match(text)
    if match is None:
        return None
    return float(match.group(1)) * _DELAY_UNITS[match.group(2)]


def resolve_url(base: str | None, ref: str) -> str:
    """Resolve ``ref`` (``file:sub.scxml``, ``sub.scxml``, an absolute URL) against ``base``."""
    if base is None:
        return ref
    return urljoin(base, ref)


def load_document(
    source: str | bytes,
    location: str | None = None,
    loader: Loader | None = None,
    *,
    max_bytes: int = MAX_SOURCE_BYTES,
    max_depth: int = MAX_DEPTH,
) -> m.Document:
    """Parse, validate and compile an SCXML document; raise ``DocumentError`` if invalid.

    ``location`` is the document's absolute URL (for relative ``src``); ``loader`` fetches
    ``<script src>`` and ``<data src>`` now, at load time.
    """
    raw = source.encode("utf-8") if isinstance(source, str) else source
    if len(raw) > max_bytes:
        raise DocumentError(f"document is larger than {max_bytes} bytes")
    text = raw.decode("utf-8", errors="replace")
    # text is already decoded: its XML declaration must not re-decode it; bytes obey it
    root = _parse(raw, "utf-8" if isinstance(source, str) else None)
    _check_depth(root, max_depth)
    return _Compiler(text, location, loader).compile(root)


def _parse(raw: bytes, encoding: str | None) -> etree._Element:
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        encoding=encoding,
    )
    try:
        tree = etree.fromstring(raw, parser).getroottree()
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if isinstance(exc.lineno, int) else None
        raise DocumentError(f"not well-formed XML: {exc.msg}", SourceLocation(line=line)) from exc
    if tree.docinfo.doctype:  # type: ignore[union-attr]
        raise DocumentError("a DOCTYPE is not allowed in an SCXML document", SourceLocation(line=1))
    root = tree.getroot()
    for node in root.iter():
        if isinstance(node, etree._Entity):
            raise DocumentError("entity references are not allowed", _where(node))
    return root


def _check_depth(root: etree._Element, max_depth: int) -> None:
    stack: list[tuple[etree._Element, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise DocumentError(f"elements are nested deeper than {max_depth}", _where(node))
        stack.extend((child, depth + 1) for child in node if isinstance(child.tag, str))


def _local(node: etree._Element) -> str | None:
    """The SCXML local name of an element, or None for foreign elements."""
    tag: object = node.tag  # entity and comment nodes have a non-string tag
    if not isinstance(tag, str):
        return None
    qname = etree.QName(tag)
    if qname.namespace not in (None, SCXML_NS):
        return None
    return qname.localname


def _where(node: Any, attribute: str | None = None) -> SourceLocation:
    name = _local(node) if isinstance(node, etree._Element) else None
    line = getattr(node, "sourceline", None)
    return SourceLocation(name, attribute, line if isinstance(line, int) else None)


def _children(node: etree._Element, *names: str) -> list[etree._Element]:
    return [child for child in node if _local(child) in names]


def _normalise_space(text: str) -> str:
    return " ".join(text.split())


@dataclass
class _StateSlot:
    """A state during compilation, before its transitions and content are built."""

    node: etree._Element
    index: int
    id: str
    kind: StateKind
    parent: int
    children: list[int] = field(default_factory=list)
    history: list[int] = field(default_factory=list)
    last_descendant: int = 0
    ancestors: tuple[int, ...] = ()


class _Compiler:
    def __init__(self, source: str, location: str | None, loader: Loader | None) -> None:
        self.source = source
        self.location = location
        self.loader = loader
        self.slots: list[_StateSlot] = []
        self.by_id: dict[str, int] = {}
        self.data_ids: dict[str, etree._Element] = {}
        self.transitions: list[m.Transition] = []
        self.generated = 0
        self.user_ids: set[str | None] = set()

    # -- entry ----------------------------------------------------------------------------
    def compile(self, root: etree._Element) -> m.Document:
        if _local(root) != "scxml":
            raise DocumentError("the root element must be <scxml>", _where(root))
        version = root.get("version")
        if version is not None and version != "1.0":
            raise DocumentError("version must be 1.0", _where(root, "version"))
        datamodel = root.get("datamodel", "ecmascript")
        if datamodel not in SUPPORTED:
            raise DocumentError(
                f"unknown data model {datamodel!r} (known: {', '.join(SUPPORTED)})",
                _where(root, "datamodel"),
            )
        binding = root.get("binding", "early")
        if binding not in ("early", "late"):
            raise DocumentError("binding must be 'early' or 'late'", _where(root, "binding"))
        persist_text = root.get("_persist")
        if persist_text not in (None, "true", "false"):
            raise DocumentError("_persist must be 'true' or 'false'", _where(root, "_persist"))
        self.user_ids = {node.get("id") for node in root.iter() if _local(node) in STATE_TAGS}
        self._number(root, parent=-1)
        built: list[m.State] = []
        for slot in self.slots:
            built.append(self._build_state(slot, built))
        states = tuple(built)
        scripts = tuple(self._script(node) for node in _children(root, "script"))
        return m.Document(
            source=self.source,
            content_hash=hashlib.sha256(self.source.encode("utf-8")).hexdigest(),
            location=self.location,
            name=root.get("name"),
            datamodel=datamodel,
            binding=binding,
            persist=None if persist_text is None else persist_text == "true",
            states=states,
            transitions=tuple(sorted(self.transitions, key=lambda t: t.index)),
            scripts=scripts,
            by_id=dict(self.by_id),
        )

    # -- pass 1: number the states in document order ---------------------------------------
    def _number(self, node: etree._Element, parent: int) -> int:
        tag = _local(node)
        assert tag is not None
        index = len(self.slots)
        state_id = self._state_id(node, tag)
        slot = _StateSlot(node, index, state_id, StateKind.ROOT, parent)
        if parent >= 0:
            slot.ancestors = (parent, *self.slots[parent].ancestors)
        self.slots.append(slot)
        allowed = _ALLOWED_CHILDREN[tag]
        for child in node:
            name = _local(child)
            if name is None:
                continue
            if name not in allowed:
                raise DocumentError(f"<{name}> is not allowed inside <{tag}>", _where(child))
            if name in STATE_TAGS or name == "parallel":
                child_index = self._number(child, index)
                (slot.history if name == "history" else slot.children).append(child_index)
        slot.kind = self._kind(tag, slot)
        slot.last_descendant = len(self.slots) - 1
        return index

    def _state_id(self, node: etree._Element, tag: str) -> str:
        if tag == "scxml":
            return "_scxml"
        state_id = node.get("id")
        if state_id is None:
            # a generated id, unique and never written by hand, so snapshots can name it
            while state_id is None or state_id in self.user_ids or state_id in self.by_id:
                self.generated += 1
                state_id = f"_{tag}_{self.generated}"
        elif state_id in self.by_id:
            raise DocumentError(f"duplicate state id {state_id!r}", _where(node, "id"))
        self.by_id[state_id] = len(self.slots)
        return state_id

    def _kind(self, tag: str, slot: _StateSlot) -> StateKind:
        if tag == "scxml":
            if not slot.children:
                raise DocumentError("<scxml> must contain at least one state", _where(slot.node))
            return StateKind.ROOT
        if tag == "state":
            return StateKind.COMPOUND if slot.children else StateKind.ATOMIC
        return {
            "parallel": StateKind.PARALLEL,
            "final": StateKind.FINAL,
            "history": StateKind.HISTORY,
        }[tag]

    # -- pass 2: build each state -----------------------------------------------------------
    def _build_state(self, slot: _StateSlot, ancestors_built: list[m.State]) -> m.State:
        node = slot.node
        where = _where(node)
        initial: m.Transition | None = None
        deep = False
        if slot.kind in (StateKind.ROOT, StateKind.COMPOUND):
            initial = self._initial_transition(slot)
        elif node.get("initial") is not None:
            raise DocumentError("only a compound state can have 'initial'", _where(node, "initial"))
        if slot.kind is StateKind.HISTORY:
            deep = self._history(slot)
            initial = self._history_transition(slot, deep)
        transitions = tuple(
            self._transition(child, slot.index) for child in _children(node, "transition")
        )
        datamodel_nodes = _children(node, "datamodel")
        data = tuple(self._data(d) for dm in datamodel_nodes for d in _children(dm, "data"))
        donedata_nodes = _children(node, "donedata")
        chain = list(transitions)
        for anc in slot.ancestors:
            chain.extend(ancestors_built[anc].transitions)
        return m.State(
            index=slot.index,
            id=slot.id,
            kind=slot.kind,
            parent=slot.parent,
            children=tuple(slot.children),
            last_descendant=slot.last_descendant,
            ancestors=slot.ancestors,
            initial=initial,
            transitions=transitions,
            onentry=tuple(self._block(n) for n in _children(node, "onentry")),
            onexit=tuple(self._block(n) for n in _children(node, "onexit")),
            invokes=tuple(self._invoke(n, slot.index) for n in _children(node, "invoke")),
            data=data,
            donedata=self._donedata(donedata_nodes[0]) if donedata_nodes else None,
            history=tuple(slot.history),
            deep_history=deep,
            location=where,
            atomic=slot.kind in (StateKind.ATOMIC, StateKind.FINAL),
            eventless=tuple(t for t in chain if not t.events),
            triggered=tuple(t for t in chain if t.events),
        )

    def _initial_transition(self, slot: _StateSlot) -> m.Transition:
        node = slot.node
        attribute = node.get("initial")
        elements = _children(node, "initial")
        if attribute is not None and elements:
            raise DocumentError(
                "use either the 'initial' attribute or an <initial> element, not both",
                _where(node, "initial"),
            )
        if elements:
            element = elements[0]
            inner = _children(element, "transition")
            if len(inner) != 1:
                raise DocumentError("<initial> must hold exactly one <transition>", _where(element))
            tnode = inner[0]
            if tnode.get("event") is not None or tnode.get("cond") is not None:
                raise DocumentError(
                    "the <initial> transition cannot have 'event' or 'cond'", _where(tnode)
                )
            targets = self._targets(tnode, "target")
            if not targets:
                raise DocumentError("the <initial> transition needs a target", _where(tnode))
            actions = self._block(tnode)
            where = _where(tnode, "target")
        elif attribute is not None:
            targets = self._targets(node, "initial")
            actions = ()
            where = _where(node, "initial")
        else:
            targets = (slot.children[0],)
            actions = ()
            where = _where(node)
        for target in targets:
            if not (slot.index < target <= slot.last_descendant):
                raise DocumentError(
                    f"initial state {self.slots[target].id!r} is not a descendant of {slot.id!r}",
                    where,
                )
        return self._make_transition(
            slot.index,
            targets=targets,
            events=(),
            cond=None,
            internal=True,
            actions=actions,
            where=where,
        )

    def _history(self, slot: _StateSlot) -> bool:
        node = slot.node
        kind = node.get("type", "shallow")
        if kind not in ("shallow", "deep"):
            raise DocumentError("history type must be 'shallow' or 'deep'", _where(node, "type"))
        parent = self.slots[slot.parent]
        if parent.kind not in (StateKind.COMPOUND, StateKind.PARALLEL):
            raise DocumentError(
                "<history> must be inside a compound or parallel state", _where(node)
            )
        return kind == "deep"

    def _history_transition(self, slot: _StateSlot, deep: bool) -> m.Transition:
        inner = _children(slot.node, "transition")
        if len(inner) != 1:
            raise DocumentError("<history> must hold exactly one <transition>", _where(slot.node))
        tnode = inner[0]
        targets = self._targets(tnode, "target")
        parent = self.slots[slot.parent]
        for target in targets:
            ok = (
                parent.index < target <= parent.last_descendant
                if deep
                else self.slots[target].parent == parent.index
            )
            if not ok:
                raise DocumentError(
                    f"history default target {self.slots[target].id!r} is not a "
                    f"{'descendant' if deep else 'child'} of {parent.id!r}",
                    _where(tnode, "target"),
                )
        actions = self._block(tnode)
        return self._make_transition(
            slot.index,
            targets=targets,
            events=(),
            cond=None,
            internal=False,
            actions=actions,
            where=_where(tnode),
        )

    def _targets(self, node: etree._Element, attribute: str) -> tuple[int, ...]:
        text = node.get(attribute)
        if text is None:
            return ()
        targets = []
        for target_id in text.split():
            index = self.by_id.get(target_id)
            if index is None:
                raise DocumentError(f"unknown target state {target_id!r}", _where(node, attribute))
            targets.append(index)
        return tuple(targets)

    def _transition(self, node: etree._Element, source: int) -> m.Transition:
        event_text = node.get("event")
        events: tuple[str, ...] = ()
        if event_text is not None:
            tokens = event_text.split()
            if not tokens:
                raise DocumentError("empty event descriptor", _where(node, "event"))
            events = tuple(_descriptor(token) for token in tokens)
        kind = node.get("type", "external")
        if kind not in ("internal", "external"):
            raise DocumentError("type must be 'internal' or 'external'", _where(node, "type"))
        targets = self._targets(node, "target")
        return self._make_transition(
            source,
            targets=targets,
            events=events,
            cond=node.get("cond"),
            internal=kind == "internal",
            actions=self._block(node),
            where=_where(node),
        )

    def _make_transition(
        self,
        source: int,
        *,
        targets: tuple[int, ...],
        events: tuple[str, ...],
        cond: str | None,
        internal: bool,
        actions: m.Block,
        where: SourceLocation,
    ) -> m.Transition:
        static_domain = None
        if targets and all(self.slots[t].kind is not StateKind.HISTORY for t in targets):
            static_domain = transition_domain(self.slots, source, targets, internal)
        transition = m.Transition(
            index=len(self.transitions),
            source=source,
            targets=targets,
            events=events,
            cond=cond,
            internal=internal,
            actions=actions,
            static_domain=static_domain,
            location=where,
        )
        self.transitions.append(transition)
        return transition

    # -- data, donedata, invoke -------------------------------------------------------------
    def _data(self, node: etree._Element) -> m.Data:
        data_id = node.get("id")
        if not data_id:
            raise DocumentError("<data> needs an 'id'", _where(node, "id"))
        if data_id in self.data_ids:
            raise DocumentError(f"duplicate data id {data_id!r}", _where(node, "id"))
        self.data_ids[data_id] = node
        expr, src = node.get("expr"), node.get("src")
        has_content = len(node) > 0 or bool((node.text or "").strip())
        if sum((expr is not None, src is not None, has_content)) > 1:
            raise DocumentError(
                "<data> takes one of 'expr', 'src' or content", _where(node, "expr")
            )
        value: Any = None
        fetch_error = None
        if src is not None:
            try:
                value = parse_content(self._fetch(src, node))
            except DocumentFetchError as exc:
                fetch_error = str(exc)
        elif has_content:
            value = self._content_value(node)
        return m.Data(data_id, expr, value, fetch_error, _where(node))

    def _donedata(self, node: etree._Element) -> m.DoneData:
        contents = _children(node, "content")
        params = self._params(node)
        if contents and params:
            raise DocumentError("<donedata> takes <content> or <param>, not both", _where(node))
        return m.DoneData(params, self._content(contents[0]) if contents else None)

    def _invoke(self, node: etree._Element, state: int) -> m.Invoke:
        self._exclusive(node, "type", "typeexpr")
        self._exclusive(node, "src", "srcexpr")
        self._exclusive(node, "id", "idlocation")
        contents = _children(node, "content")
        if contents and (node.get("src") is not None or node.get("srcexpr") is not None):
            raise DocumentError("<invoke> takes 'src', 'srcexpr' or <content>", _where(node))
        params = self._params(node)
        namelist = tuple((node.get("namelist") or "").split())
        if namelist and params:
            raise DocumentError("<invoke> takes 'namelist' or <param>, not both", _where(node))
        finalize = _children(node, "finalize")
        return m.Invoke(
            type=node.get("type"),
            typeexpr=node.get("typeexpr"),
            src=node.get("src"),
            srcexpr=node.get("srcexpr"),
            id=node.get("id"),
            idlocation=node.get("idlocation"),
            namelist=namelist,
            params=params,
            content=self._content(contents[0]) if contents else None,
            autoforward=node.get("autoforward", "false") == "true",
            finalize=self._block(finalize[0]) if finalize else (),
            state=state,
            location=_where(node),
        )

    def _params(self, node: etree._Element) -> tuple[m.Param, ...]:
        params = []
        for param in _children(node, "param"):
            name = param.get("name")
            if not name:
                raise DocumentError("<param> needs a 'name'", _where(param, "name"))
            self._exclusive(param, "expr", "location")
            params.append(m.Param(name, param.get("expr"), param.get("location")))
        return tuple(params)

    def _content(self, node: etree._Element) -> m.Content:
        expr = node.get("expr")
        if expr is not None:
            if len(node) or (node.text or "").strip():
                raise DocumentError("<content> takes 'expr' or a body, not both", _where(node))
            return m.Content(expr=expr)
        return m.Content(value=self._content_value(node))

    def _content_value(self, node: etree._Element) -> Any:
        elements = [child for child in node if isinstance(child.tag, str)]
        if elements:
            xml = "".join(
                etree.tostring(child, encoding="unicode", with_tail=False) for child in elements
            )
            return {"$xml": xml}
        return parse_content(node.text or "")

    def _fetch(self, src: str, node: etree._Element) -> str:
        if self.loader is None:
            raise DocumentFetchError(f"no loader to fetch {src!r}")
        return self.loader(resolve_url(self.location, src))

    def _exclusive(self, node: etree._Element, first: str, second: str) -> None:
        if node.get(first) is not None and node.get(second) is not None:
            raise DocumentError(
                f"'{first}' and '{second}' cannot both be given", _where(node, second)
            )

    # -- executable content -----------------------------------------------------------------
    def _block(self, node: etree._Element) -> m.Block:
        actions = []
        for child in node:
            name = _local(child)
            if name is None:
                continue
            builder = _ACTIONS.get(name)
            if builder is None:
                if _local(node) == "if" and name in ("elseif", "else"):
                    continue
                raise DocumentError(f"<{name}> is not executable content", _where(child))
            actions.append(builder(self, child))
        return tuple(actions)

    def _raise(self, node: etree._Element) -> m.Raise:
        event = node.get("event")
        if not event:
            raise DocumentError("<raise> needs an 'event'", _where(node, "event"))
        return m.Raise(event, _where(node))

    def _if(self, node: etree._Element) -> m.If:
        branches: list[m.Branch] = []
        cond = node.get("cond")
        if cond is None:
            raise DocumentError("<if> needs a 'cond'", _where(node, "cond"))
        current: list[m.Action] = []
        seen_else = False
        for child in node:
            name = _local(child)
            if name in ("elseif", "else"):
                if seen_else:
                    raise DocumentError(f"<{name}> after <else>", _where(child))
                branches.append(m.Branch(cond, tuple(current)))
                current = []
                if name == "else":
                    seen_else = True
                    cond = None
                else:
                    cond = child.get("cond")
                    if cond is None:
                        raise DocumentError("<elseif> needs a 'cond'", _where(child, "cond"))
                continue
            if name is None:
                continue
            builder = _ACTIONS.get(name)
            if builder is None:
                raise DocumentError(f"<{name}> is not executable content", _where(child))
            current.append(builder(self, child))
        branches.append(m.Branch(cond, tuple(current)))
        return m.If(tuple(branches), _where(node))

    def _foreach(self, node: etree._Element) -> m.Foreach:
        array, item = node.get("array"), node.get("item")
        if not array:
            raise DocumentError("<foreach> needs an 'array'", _where(node, "array"))
        if not item:
            raise DocumentError("<foreach> needs an 'item'", _where(node, "item"))
        return m.Foreach(array, item, node.get("index"), self._block(node), _where(node))

    def _log(self, node: etree._Element) -> m.Log:
        return m.Log(node.get("label"), node.get("expr"), _where(node))

    def _assign(self, node: etree._Element) -> m.Assign:
        location = node.get("location")
        if not location:
            raise DocumentError("<assign> needs a 'location'", _where(node, "location"))
        expr = node.get("expr")
        has_body = len(node) > 0 or bool((node.text or "").strip())
        if expr is not None and has_body:
            raise DocumentError("<assign> takes 'expr' or content, not both", _where(node, "expr"))
        content = m.Content(value=self._content_value(node)) if has_body else None
        return m.Assign(location, expr, content, _where(node))

    def _script(self, node: etree._Element) -> m.Script:
        src = node.get("src")
        body = node.text or ""
        if src is not None:
            if body.strip():
                raise DocumentError("<script> takes 'src' or a body, not both", _where(node, "src"))
            try:
                body = self._fetch(src, node)
            except DocumentFetchError as exc:
                raise DocumentError(f"cannot fetch script: {exc}", _where(node, "src")) from exc
        return m.Script(body, _where(node))

    def _send(self, node: etree._Element) -> m.Send:
        for first, second in (
            ("event", "eventexpr"),
            ("target", "targetexpr"),
            ("type", "typeexpr"),
            ("id", "idlocation"),
            ("delay", "delayexpr"),
        ):
            self._exclusive(node, first, second)
        contents = _children(node, "content")
        params = self._params(node)
        namelist = tuple((node.get("namelist") or "").split())
        if contents and (params or namelist):
            raise DocumentError("<send> takes <content> or 'namelist'/<param>", _where(node))
        delay_s = None
        delay = node.get("delay")
        if delay is not None:
            delay_s = parse_delay(delay)
            if delay_s is None:
                raise DocumentError(f"bad delay {delay!r}", _where(node, "delay"))
            if node.get("target") == "#_internal":
                raise DocumentError("a delayed send cannot target #_internal", _where(node))
        return m.Send(
            event=node.get("event"),
            eventexpr=node.get("eventexpr"),
            target=node.get("target"),
            targetexpr=node.get("targetexpr"),
            type=node.get("type"),
            typeexpr=node.get("typeexpr"),
            id=node.get("id"),
            idlocation=node.get("idlocation"),
            delay_s=delay_s,
            delayexpr=node.get("delayexpr"),
            namelist=namelist,
            params=params,
            content=self._content(contents[0]) if contents else None,
            location=_where(node),
        )

    def _cancel(self, node: etree._Element) -> m.Cancel:
        self._exclusive(node, "sendid", "sendidexpr")
        sendid, sendidexpr = node.get("sendid"), node.get("sendidexpr")
        if sendid is None and sendidexpr is None:
            raise DocumentError("<cancel> needs 'sendid' or 'sendidexpr'", _where(node))
        return m.Cancel(sendid, sendidexpr, _where(node))


def _descriptor(token: str) -> str:
    if token == "*":
        return token
    if token.endswith(".*"):
        return token[:-2]
    return token.rstrip(".")


class StateShape(Protocol):
    """What domain computation needs of a state (a compiled state or one being compiled)."""

    @property
    def index(self) -> int: ...
    @property
    def kind(self) -> StateKind: ...
    @property
    def last_descendant(self) -> int: ...
    @property
    def ancestors(self) -> tuple[int, ...]: ...


def transition_domain(
    states: Sequence[StateShape], source: int, targets: Iterable[int], internal: bool
) -> int:
    """``getTransitionDomain`` given the effective targets (SCXML 1.0 Appendix D).

    The ``<scxml>`` root (0) counts as a compound state, so the initial transition of the
    document, marked internal, has the root as its domain.
    """
    targets = tuple(targets)
    src = states[source]
    if (
        internal
        and src.kind in (StateKind.COMPOUND, StateKind.ROOT)
        and all(src.index < t <= src.last_descendant for t in targets)
    ):
        return source
    return find_lcca(states, (source, *targets))


def find_lcca(states: Sequence[StateShape], state_list: Sequence[int]) -> int:
    """``findLCCA``: the nearest compound proper ancestor of the head holding the tail."""
    head, tail = state_list[0], state_list[1:]
    for anc in states[head].ancestors:
        state = states[anc]
        if state.kind in (StateKind.COMPOUND, StateKind.ROOT) and all(
            anc < t <= state.last_descendant for t in tail
        ):
            return anc
    return 0


_ALLOWED_CHILDREN: dict[str, frozenset[str]] = {
    "scxml": frozenset({"state", "parallel", "final", "datamodel", "script"}),
    "state": frozenset(
        {
            "onentry",
            "onexit",
            "transition",
            "initial",
            "state",
            "parallel",
            "final",
            "history",
            "datamodel",
            "invoke",
        }
    ),
    "parallel": frozenset(
        {"onentry", "onexit", "transition", "state", "parallel", "history", "datamodel", "invoke"}
    ),
    "final": frozenset({"onentry", "onexit", "donedata"}),
    "history": frozenset({"transition"}),
}

_ACTIONS: dict[str, Callable[[_Compiler, etree._Element], m.Action]] = {
    "raise": _Compiler._raise,
    "if": _Compiler._if,
    "foreach": _Compiler._foreach,
    "log": _Compiler._log,
    "assign": _Compiler._assign,
    "script": _Compiler._script,
    "send": _Compiler._send,
    "cancel": _Compiler._cancel,
}
