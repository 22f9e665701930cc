"""Engine throughput against python-statemachine and harel, measured in the same run.

The chart: a compound state P toggling between children A and B on event ``go``; each
child's entry increments a counter ``n``; each transition is guarded by ``n < 1e9``.
Every engine processes the same number of events on one long-running instance, and the
final counter is checked (``events + 1``: the initial entry counts too). Also printed:
the cost of one snapshot + restore (through JSON text), and sessions created per second.

    python bench/engine.py [--events 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Run as `python bench/engine.py`, this folder comes first on sys.path, and this file's
# name would shadow the `engine` package.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

from engine import Event, Session, load_document

CHART = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript">
  <datamodel><data id="n" expr="0"/></datamodel>
  <state id="P" initial="A">
    <state id="A">
      <onentry><assign location="n" expr="n + 1"/></onentry>
      <transition event="go" cond="n &lt; 1e9" target="B"/>
    </state>
    <state id="B">
      <onentry><assign location="n" expr="n + 1"/></onentry>
      <transition event="go" cond="n &lt; 1e9" target="A"/>
    </state>
  </state>
</scxml>"""

HAREL_CHART = """
machine Toggle {
  context { n: int = 0 }
  initial P
  state P {
    initial A
    state A { on enter MODULE.harel_increment }
    state B { on enter MODULE.harel_increment }
    from A to B on go where context.n < 1000000000
    from B to A on go where context.n < 1000000000
  }
}
"""


def timed(run: Callable[[], int], events: int) -> float:
    """Events per second of ``run``, which returns the final counter (checked here)."""
    started = time.perf_counter()
    counter = run()
    elapsed = time.perf_counter() - started
    if counter != events + 1:
        raise SystemExit(f"wrong final counter {counter}, expected {events + 1}")
    return events / elapsed


def orchestrion(events: int) -> int:
    doc = load_document(CHART)
    session = Session.create(doc, "bench")
    session.start(0.0)
    go = Event("go")
    for _ in range(events):
        session.enqueue(go)
        session.run(0.0)
    counter: int = session.query()["datamodel"]["n"]
    session.close()
    return counter


def python_statemachine(events: int) -> int:
    from statemachine import State, StateChart

    class Toggle(StateChart):  # type: ignore[type-arg]
        class P(State.Compound):
            a = State(initial=True)
            b = State()
            go = a.to(b, cond="below") | b.to(a, cond="below")

        def __init__(self) -> None:
            self.n = 0
            super().__init__()

        def below(self) -> bool:
            return self.n < 1e9

        def on_enter_a(self) -> None:
            self.n += 1

        def on_enter_b(self) -> None:
            self.n += 1

    machine = Toggle()
    for _ in range(events):
        machine.send("go")
    return machine.n


def harel_increment(proxy: Any, event: Any) -> None:
    proxy.execution_ctx["n"] += 1


def harel(events: int) -> int:
    from harel import Driver, Execution, definition_from_dsl
    from harel import Event as HarelEvent

    module = sys.modules[__name__].__name__
    definition = definition_from_dsl(HAREL_CHART.replace("MODULE", module))
    driver = Driver(definition, execution="inline")
    execution = Execution(definition_id="Toggle", context={"n": 0})
    driver.start(execution)
    for _ in range(events):
        driver.inject(execution, HarelEvent(kind="go"))
    counter: int = execution.context["n"]
    return counter


def snapshot_restore_ms(rounds: int) -> float:
    doc = load_document(CHART)
    session = Session.create(doc, "bench")
    session.start(0.0)
    started = time.perf_counter()
    for _ in range(rounds):
        text = json.dumps(session.snapshot())
        session.close()
        session = Session.restore(doc, json.loads(text))
    elapsed = time.perf_counter() - started
    session.close()
    return elapsed / rounds * 1000


def sessions_per_second(count: int) -> float:
    doc = load_document(CHART)
    started = time.perf_counter()
    for i in range(count):
        session = Session.create(doc, f"s{i}")
        session.start(0.0)
        session.close()
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    events: int = args.events
    # the engines take turns, round after round, and each keeps its best round, so that
    # a burst of load on a shared machine does not favour one of them
    best = {"orchestrion": 0.0, "psm": 0.0, "harel": 0.0}
    for _ in range(args.rounds):
        best["orchestrion"] = max(best["orchestrion"], timed(lambda: orchestrion(events), events))
        best["psm"] = max(best["psm"], timed(lambda: python_statemachine(events), events))
        best["harel"] = max(best["harel"], timed(lambda: harel(events), events))
    ours, psm, harel_rate = best["orchestrion"], best["psm"], best["harel"]
    print(f"orchestrion          {ours:10.0f} events/s")
    print(f"python-statemachine  {psm:10.0f} events/s   orchestrion is {ours / psm:.1f}x")
    ratio = ours / harel_rate
    print(f"harel (inline)       {harel_rate:10.0f} events/s   orchestrion is {ratio:.1f}x")
    print(f"snapshot + restore   {snapshot_restore_ms(500):10.2f} ms (JSON text, fresh data model)")
    print(f"sessions created     {sessions_per_second(500):10.0f} /s (create + start + close)")


if __name__ == "__main__":
    main()
