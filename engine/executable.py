"""Executable content (SCXML 1.0 chapter 4 and section 6.2): raise, if, foreach, log,
assign, script, send and cancel, run against an :class:`ExecutionContext`.

Any failure inside a block raises ``error.execution`` and stops that block only
(section 4.9); the next block (the next ``<onentry>``, say) still runs.
"""

from __future__ import annotations

from typing import Any, Protocol

from engine import model as m
from engine.datamodel.base import DataModel, ScriptError
from engine.document import parse_delay
from engine.events import Event
from engine.ioprocessor import SCXML_TYPE, Route, SendError


class ExecutionContext(Protocol):
    """What executable content needs from the interpreter running it."""

    datamodel: DataModel

    def raise_internal(self, event: Event) -> None: ...

    def raise_error(self, name: str, message: str, sendid: str | None = None) -> None: ...

    def resolve_send(self, send_type: str, target: str | None) -> Route: ...

    def dispatch(self, event: Event, route: Route, delay_s: float, sendid: str) -> None: ...

    def cancel_send(self, sendid: str) -> None: ...

    def log(self, label: str | None, value: Any) -> None: ...

    def new_id(self) -> str: ...


class ActionError(Exception):
    """An action cannot complete; the block stops with ``error.execution``."""


def execute_block(ctx: ExecutionContext, block: m.Block) -> None:
    """Run one block; the first failure raises ``error.execution`` and ends the block."""
    try:
        _run(ctx, block)
    except (ScriptError, ActionError) as exc:
        ctx.raise_error("error.execution", str(exc))
    except SendError as exc:
        ctx.raise_error(exc.event, str(exc), sendid=exc.sendid)


def _run(ctx: ExecutionContext, actions: tuple[m.Action, ...]) -> None:
    for action in actions:
        match action:
            case m.Assign():
                _assign(ctx.datamodel, action)
            case m.Raise():
                ctx.raise_internal(Event(action.event, type="internal"))
            case m.If():
                _if(ctx, action)
            case m.Log():
                value = ctx.datamodel.evaluate(action.expr) if action.expr is not None else None
                ctx.log(action.label, value)
            case m.Script():
                ctx.datamodel.execute(action.source)
            case m.Send():
                send(ctx, action)
            case m.Cancel():
                sendid = action.sendid
                if sendid is None:
                    sendid = str(ctx.datamodel.evaluate(action.sendidexpr or ""))
                ctx.cancel_send(sendid)
            case m.Foreach():
                for _ in ctx.datamodel.foreach(action.array, action.item, action.index):
                    _run(ctx, action.actions)


def _assign(dm: DataModel, action: m.Assign) -> None:
    if action.content is not None:
        dm.assign_value(action.location_expr, action.content.value)
    else:
        dm.assign(action.location_expr, action.expr or "undefined")


def _if(ctx: ExecutionContext, action: m.If) -> None:
    for branch in action.branches:
        if branch.cond is None or ctx.datamodel.condition(branch.cond):
            _run(ctx, branch.actions)
            return


def evaluate_data(
    dm: DataModel,
    namelist: tuple[str, ...],
    params: tuple[m.Param, ...],
    content: m.Content | None,
) -> Any:
    """The payload of a send, donedata or invoke: content's value, or a dict of names."""
    if content is not None:
        return dm.evaluate(content.expr) if content.expr is not None else content.value
    if not namelist and not params:
        return None
    data: dict[str, Any] = {}
    for name in namelist:
        if not dm.is_location(name):
            raise ActionError(f"namelist entry {name!r} is not a location")
        data[name] = dm.evaluate(name)
    for param in params:
        if param.location is not None:
            if not dm.is_location(param.location):
                raise ActionError(f"param location {param.location!r} is not a location")
            data[param.name] = dm.evaluate(param.location)
        else:
            data[param.name] = dm.evaluate(param.expr) if param.expr is not None else None
    return data


def send(ctx: ExecutionContext, action: m.Send) -> None:
    """``<send>``: evaluate every attribute, then dispatch now or after the delay."""
    dm = ctx.datamodel
    sendid = action.id
    if sendid is None:
        sendid = ctx.new_id()
        if action.idlocation is not None:
            dm.assign_value(action.idlocation, sendid)
    name = action.event if action.eventexpr is None else str(dm.evaluate(action.eventexpr))
    target = action.target if action.targetexpr is None else str(dm.evaluate(action.targetexpr))
    send_type = action.type if action.typeexpr is None else str(dm.evaluate(action.typeexpr))
    delay_s = action.delay_s or 0.0
    if action.delayexpr is not None:
        delay_text = dm.evaluate(action.delayexpr)
        parsed = parse_delay(str(delay_text))
        if parsed is None:
            raise ActionError(f"bad delay {delay_text!r}")
        delay_s = parsed
    data = evaluate_data(dm, action.namelist, action.params, action.content)
    reported_id = sendid if action.id is not None or action.idlocation is not None else None
    try:
        route = ctx.resolve_send(send_type or SCXML_TYPE, target)
    except SendError as exc:
        exc.sendid = reported_id
        raise
    # SCXML C.2: a basichttp message may carry its name in <param name="_scxmleventname">
    # or have none at all (the receiver then names it HTTP.POST)
    if name is None and action.content is None and route.kind != "url":
        raise ActionError("<send> has no event name")
    if route.kind == "internal" and delay_s > 0:
        raise ActionError("a delayed send cannot target #_internal")
    event = Event(name or "", type="external", sendid=reported_id, data=data)
    ctx.dispatch(event, route, delay_s, sendid)
