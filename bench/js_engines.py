"""Which JavaScript engine runs the ECMAScript data model: measured, not guessed.

Candidates: ``quickjs`` 1.19.4 (PetterS bindings, the baseline), ``quickjs-ng`` (its wrapper
installs a module also named ``quickjs``, so it runs from its own venv) and ``mini-racer``
(V8). Each engine runs in its own subprocess with the same workload: the operations the
interpreter performs per session and per event, on the same prelude (system variables,
DOM shim, snapshot codec) the data model uses. A second table measures the data model's
own per-call overhead on the chosen engine against a raw engine call, and what compiling
each expression once saves.

    python bench/js_engines.py [--quick] [--qjsng-python /tmp/venv-qjsng/bin/python]

Set up the quickjs-ng venv first (never in the global environment):
``python -m venv /tmp/venv-qjsng && /tmp/venv-qjsng/bin/pip install quickjs-ng``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HELPERS = "__orchestrion_helpers__"
CONDITION = "n < 1e9"
ASSIGNMENT = "n = n + 1"
MEMORY_LIMIT = 64 * 1024 * 1024

SAMPLE_SCRIPT = """
var n = 0;
var customer = {id: 'C-1042', name: 'Ada Lovelace', tier: 'gold', since: new Date(Date.UTC(2019, 4, 1)),
  phones: ['+44 20 7946 0000', '+44 7700 900000'], tags: ['vip', 'callback'],
  address: {street: '12 St James Sq', city: 'London', zip: 'SW1Y 4JH'}};
var history = [];
for (var i = 0; i < 40; i++) history.push({at: 1700000000 + i * 60, event: 'ivr.step' + i, ok: i % 3 !== 0});
var counters = {attempts: 0, transfers: 0, errors: 0};
var queue = 'support-tier2', agent = null, retries = 3, lastError = undefined;
function backoff(k) { return Math.min(30, Math.pow(2, k)); }
function isVip() { return customer.tier === 'gold' && customer.tags.indexOf('vip') >= 0; }
function record(name, ok) { history.push({at: Date.now() / 1000, event: name, ok: ok}); return history.length; }
var routing = {pick: function (q) { return q + ':' + customer.tier; }, weights: [0.5, 0.3, 0.2]};
"""  # noqa: E501 - sample document script


# ---- one engine, run in a subprocess ---------------------------------------------------


class Engine:
    """The few operations the benchmark needs from a JavaScript engine binding."""

    name = ""

    def new_context(self) -> Any:
        raise NotImplementedError

    def eval(self, context: Any, source: str) -> Any:
        raise NotImplementedError

    def close(self, context: Any) -> None:
        """Release the context (V8 isolates must be closed explicitly)."""


class QuickJs(Engine):
    def __init__(self, name: str) -> None:
        import quickjs

        self.name = name
        self._quickjs = quickjs

    def new_context(self) -> Any:
        context = self._quickjs.Context()
        context.set_memory_limit(MEMORY_LIMIT)
        context.set_time_limit(1.0)
        return context

    def eval(self, context: Any, source: str) -> Any:
        return context.eval(source)


class MiniRacer(Engine):
    name = "mini-racer"

    def __init__(self) -> None:
        from py_mini_racer import MiniRacer as Racer

        self._racer = Racer

    def new_context(self) -> Any:
        context = self._racer()
        context.set_hard_memory_limit(MEMORY_LIMIT)
        return context

    def eval(self, context: Any, source: str) -> Any:
        return context.eval(source, timeout_sec=1.0)

    def close(self, context: Any) -> None:
        context.close()


Timing = tuple[float, float]  # (CPU us, wall-clock us) per operation


def best_us(operation: Callable[[], Any], count: int, repeats: int = 3) -> Timing:
    """Best (least disturbed) mean CPU and wall time of ``operation``, in microseconds.

    CPU time (every thread of this process, so V8's own threads count) is the figure to
    compare on a shared machine; wall time adds what a caller waits for, such as a
    hand-over to another thread.
    """
    best_cpu = best_wall = float("inf")
    for _ in range(repeats):
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(count):
            operation()
        best_cpu = min(best_cpu, (time.process_time() - cpu) / count)
        best_wall = min(best_wall, (time.perf_counter() - wall) / count)
    return best_cpu * 1e6, best_wall * 1e6


def measure_engine(
    engine: Engine, prelude: str, snapshot_json: str, scale: int
) -> dict[str, Timing]:
    """Microseconds per operation for one engine."""
    helpers = f"globalThis.{HELPERS}"
    load = f"{helpers}.restore({json.dumps(snapshot_json)})"

    def create() -> None:
        engine.close(engine.new_context())

    def create_and_restore() -> None:
        context = engine.new_context()
        engine.eval(context, prelude)
        engine.eval(context, load)
        engine.close(context)

    context = engine.new_context()
    engine.eval(context, prelude)
    engine.eval(context, load)
    condition = engine.eval(context, f"(function(){{return !!({CONDITION}\n);}})")
    assignment = engine.eval(context, f"(function(){{{ASSIGNMENT};}})")
    snapshot = engine.eval(context, f"{helpers}.snapshot")
    results = {
        "create context": best_us(create, 20 * scale),
        "create + prelude + restore": best_us(create_and_restore, 10 * scale),
        "condition (compiled once)": best_us(condition, 2000 * scale),
        "condition (eval each time)": best_us(
            lambda: engine.eval(context, f"!!({CONDITION})"), 2000 * scale
        ),
        "assignment (compiled once)": best_us(assignment, 2000 * scale),
        "dump data model (snapshot)": best_us(lambda: snapshot("[]"), 50 * scale),
    }
    engine.close(context)
    return results


def worker(engine_name: str) -> None:
    """Subprocess entry: read the workload on stdin, print the figures as JSON."""
    job = json.load(sys.stdin)
    engine: Engine = MiniRacer() if engine_name == "mini-racer" else QuickJs(engine_name)
    figures = measure_engine(engine, job["prelude"], job["snapshot"], job["scale"])
    json.dump({"engine": engine_name, "figures": figures}, sys.stdout)


# ---- the coordinating run -------------------------------------------------------------


def workload() -> tuple[str, str]:
    """The data model prelude (helpers kept reachable) and the sample session's snapshot."""
    sys.path.insert(0, str(ROOT))
    from engine.datamodel.ecmascript import EcmaScriptDataModel
    from engine.datamodel.prelude import PRELUDE_JS
    from engine.datamodel.snapshot_codec import SNAPSHOT_CODEC_JS

    model = EcmaScriptDataModel()
    model.execute(SAMPLE_SCRIPT)
    # the prelude leaves its helpers on a global; the data model deletes it, the bench uses it
    prelude = f"{PRELUDE_JS};\nglobalThis.{HELPERS}.extend({SNAPSHOT_CODEC_JS});"
    return prelude, json.dumps({k: v for k, v in model.snapshot().items() if k != "format"})


def run_engine(python: str, engine_name: str, job: dict[str, Any]) -> dict[str, Timing] | None:
    done = subprocess.run(
        [python, str(Path(__file__).resolve()), "--worker", engine_name],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        print(f"  {engine_name}: failed: {done.stderr.strip()[-2000:]}")
        return None
    figures = json.loads(done.stdout)["figures"]
    return {operation: (cpu, wall) for operation, (cpu, wall) in figures.items()}


def measure_data_model(scale: int) -> dict[str, Timing]:
    """The data model's per-call cost against the raw engine call it wraps."""
    import quickjs

    from engine.datamodel.ecmascript import EcmaScriptDataModel
    from engine.events import Event

    model = EcmaScriptDataModel()
    model.setup("bench", None, {}, {"s1"}.__contains__)
    model.execute(SAMPLE_SCRIPT)
    raw = quickjs.Context()
    raw.set_time_limit(1.0)
    raw.eval("var n = 0")
    raw_condition = raw.eval(f"(function(){{return !!({CONDITION}\n);}})")
    event = Event("call.offered", data={"ani": "+44 20 7946 0000", "dnis": "1800", "tags": [1, 2]})
    bare = Event("tick")
    count = 2000 * scale
    snapshot = model.snapshot()
    return {
        "raw engine call": best_us(raw_condition, count),
        "DataModel.condition": best_us(lambda: model.condition(CONDITION), count),
        "DataModel.condition with In()": best_us(
            lambda: model.condition(f"In('s1') && {CONDITION}"), count
        ),
        "DataModel.assign": best_us(lambda: model.assign("n", "n + 1"), count),
        "DataModel.evaluate (object)": best_us(lambda: model.evaluate("customer.address"), count),
        "DataModel.set_event (no data)": best_us(lambda: model.set_event(bare), count),
        "DataModel.set_event (dict data)": best_us(lambda: model.set_event(event), count),
        "DataModel.snapshot": best_us(model.snapshot, 50 * scale),
        "DataModel() + restore": best_us(
            lambda: EcmaScriptDataModel().restore(snapshot), 10 * scale
        ),
    }


def print_table(title: str, rows: dict[str, dict[str, Timing]], baseline: str) -> None:
    """One column per engine: CPU us and its ratio to the baseline, then wall us."""
    print(f"\n{title}")
    engines = list(rows)
    header = f"{'operation':30}" + "".join(f"{e + ' cpu us, ratio, wall us':>40}" for e in engines)
    print(header)
    print("-" * len(header))
    for operation, (base, _) in rows[baseline].items():
        line = f"{operation:30}"
        for engine in engines:
            timing = rows[engine].get(operation)
            if timing is None:
                line += " " * 40
            else:
                cpu, wall = timing
                line += f"{cpu:14.1f}  x{cpu / base:8.2f}  {wall:12.1f}"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    parser.add_argument("--qjsng-python", default="/tmp/venv-qjsng/bin/python")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    scale = 1 if args.quick else 5
    prelude, snapshot = workload()
    job = {"prelude": prelude, "snapshot": snapshot, "scale": scale}
    print(f"sample data model snapshot: {len(snapshot)} bytes of JSON; scale {scale}")
    rows: dict[str, dict[str, Timing]] = {}
    candidates = [(sys.executable, "quickjs"), (args.qjsng_python, "quickjs-ng")]
    candidates.append((sys.executable, "mini-racer"))
    for python, engine_name in candidates:
        if not Path(python).exists():
            print(f"  {engine_name}: skipped, {python} does not exist")
            continue
        figures = run_engine(python, engine_name, job)
        if figures is not None:
            rows[engine_name] = figures
    print_table("Engines, per operation; CPU time ratio against quickjs 1.19.4:", rows, "quickjs")
    overhead = measure_data_model(scale)
    base, _ = overhead["raw engine call"]
    print("\nEcmaScriptDataModel on quickjs, per call; ratio of CPU time against a raw call:")
    print(f"{'operation':34}{'cpu us':>12}{'ratio':>10}{'wall us':>12}")
    for operation, (cpu, wall) in overhead.items():
        print(f"{operation:34}{cpu:12.1f}  x{cpu / base:7.2f}{wall:12.1f}")


if __name__ == "__main__":
    main()
