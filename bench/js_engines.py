"""Which JavaScript engine runs the ECMAScript data model: measured, not guessed.

Candidates: ``quickjs`` 1.19.4 (PetterS bindings, the baseline), ``quickjs-ng`` (its wrapper
installs a module also named ``quickjs``, so it runs from its own venv) and ``mini-racer``
(V8). Each engine runs in its own subprocess with the same workload: the operations the
interpreter performs per session and per event, on the same prelude (system variables,
DOM shim, snapshot codec) the data model uses. A second table measures the data model's
own per-call overhead on the chosen engine against a raw engine call, and what compiling
each expression once saves. A third table puts the per-session costs (create + setup,
snapshot, restore) of this checkout against those of an earlier commit (``--baseline``,
by default the one before the work on those costs), both measured in this run: the
baseline's ``engine/`` is extracted with ``git archive`` and run in its own subprocess.

    python bench/js_engines.py [--quick] [--qjsng-python /tmp/venv-qjsng/bin/python]
                               [--baseline REV | --baseline none]

Set up the quickjs-ng venv first (never in the global environment):
``python -m venv /tmp/venv-qjsng && /tmp/venv-qjsng/bin/pip install quickjs-ng``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HELPERS = "__orchestrion_helpers__"
# the last commit before the prelude was split and the snapshot got its fast path
BASELINE_REV = "7e095b6"
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

# Ordinary session data: plain records, lists, numbers, strings and a few script functions.
PLAIN_SCRIPT = """
var n = 0;
var customer = {id: 'C-1042', name: 'Ada Lovelace', tier: 'gold', since: '2019-05-01',
  phones: ['+44 20 7946 0000', '+44 7700 900000'], tags: ['vip', 'callback'],
  address: {street: '12 St James Sq', city: 'London', zip: 'SW1Y 4JH'}};
var history = [];
for (var i = 0; i < 40; i++) history.push({at: 1700000000 + i * 60, event: 'ivr.step' + i, ok: i % 3 !== 0});
var counters = {attempts: 0, transfers: 0, errors: 0};
var queue = 'support-tier2', agent = null, retries = 3, lastError = undefined;
function backoff(k) { return Math.min(30, Math.pow(2, k)); }
function isVip() { return customer.tier === 'gold' && customer.tags.indexOf('vip') >= 0; }
var pick = function (q) { return q + ':' + customer.tier; };
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
    """The data model's JavaScript (every part, helpers kept reachable) and the sample
    session's snapshot."""
    sys.path.insert(0, str(ROOT))
    from engine.datamodel.ecmascript import _PARTS, _PRELUDE, EcmaScriptDataModel

    model = EcmaScriptDataModel()
    model.execute(SAMPLE_SCRIPT)
    # the data model keeps its helpers off the globals; the bench publishes them on one
    parts = "".join(
        f'lookup("extend")({_PARTS[part]});\n' for part in ("snapshot", "restore", "codec")
    )
    prelude = (
        f"(function (lookup) {{\n{parts}"
        f'globalThis.{HELPERS} = {{snapshot: lookup("snapshot"), restore: lookup("restore")}};\n'
        f"}})({_PRELUDE});"
    )
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


def measure_session_costs(scale: int) -> dict[str, Timing]:
    """Per-session costs through the public data model API only, so that an earlier commit
    runs the same code (this runs in a subprocess whose ``engine`` is that commit's)."""
    from engine.datamodel import DataModel, create
    from engine.events import Event

    def new() -> DataModel:
        model = create("ecmascript")
        model.setup("bench", None, {}, {"s1"}.__contains__)
        return model

    def restored(snapshot: dict[str, Any]) -> DataModel:
        model = create("ecmascript")
        model.restore(snapshot)
        model.setup("bench", None, {}, {"s1"}.__contains__)
        return model

    def sample(script: str) -> tuple[DataModel, dict[str, Any]]:
        model = new()
        model.execute(script)
        return model, json.loads(json.dumps(model.snapshot()))

    mixed, mixed_snapshot = sample(SAMPLE_SCRIPT)
    plain, plain_snapshot = sample(PLAIN_SCRIPT)
    event = Event("call.offered", data={"ani": "+44 20 7946 0000", "dnis": "1800"})

    def persisted_event() -> None:
        model = restored(plain_snapshot)
        model.set_event(event)
        if model.condition(CONDITION):
            model.assign("n", "n + 1")
        model.snapshot()
        model.close()

    def new_session() -> None:
        model = new()
        model.declare("n", "0")
        model.declare("order", value={"id": "o-1", "lines": [{"sku": "a", "qty": 2}]})
        model.set_event(event)
        model.assign("n", "n + 1")
        model.snapshot()
        model.close()

    count = 10 * scale
    return {
        "create + setup": best_us(lambda: new().close(), 2 * count),
        "snapshot, plain sample": best_us(plain.snapshot, 5 * count),
        "create + restore + setup, plain": best_us(lambda: restored(plain_snapshot).close(), count),
        "snapshot, mixed sample": best_us(mixed.snapshot, 5 * count),
        "create + restore + setup, mixed": best_us(lambda: restored(mixed_snapshot).close(), count),
        "persisted event (plain sample)": best_us(persisted_event, count),
        "new session (2 data, 1 event)": best_us(new_session, count),
    }


def model_worker(root: str, scale: int) -> None:
    """Subprocess entry: the session costs of the ``engine`` package under ``root``."""
    sys.path.insert(0, root)
    json.dump(measure_session_costs(scale), sys.stdout)


def session_costs(root: Path, scale: int) -> dict[str, Timing]:
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--model-worker", str(root)],
        input=str(scale),
        capture_output=True,
        text=True,
        check=True,
    )
    return {operation: (cpu, wall) for operation, (cpu, wall) in json.loads(done.stdout).items()}


def compare_with_baseline(rev: str, scale: int) -> None:
    """Session costs of ``rev`` and of this checkout, measured in turns in this run."""
    with tempfile.TemporaryDirectory(prefix="orchestrion-baseline-") as folder:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", rev, "engine"], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
        rows: dict[str, dict[str, Timing]] = {"baseline": {}, "now": {}}
        for _ in range(2):  # in turns, keeping the best, so a load burst hits both alike
            for name, root in (("baseline", Path(folder)), ("now", ROOT)):
                for operation, timing in session_costs(root, scale).items():
                    best = rows[name].get(operation, (float("inf"), float("inf")))
                    rows[name][operation] = (min(best[0], timing[0]), min(best[1], timing[1]))
    print(f"\nPer-session costs, CPU us: {rev} (baseline) against this checkout, same run:")
    print(f"{'operation':36}{'baseline':>12}{'now':>12}{'cheaper by':>12}")
    for operation, (before, _) in rows["baseline"].items():
        after, _ = rows["now"][operation]
        print(f"{operation:36}{before:12.1f}{after:12.1f}  x{before / after:8.2f}")


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
    parser.add_argument("--baseline", default=BASELINE_REV, help="git revision, or none")
    parser.add_argument("--model-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    if args.model_worker:
        model_worker(args.model_worker, int(sys.stdin.read()))
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
    if args.baseline != "none":
        compare_with_baseline(args.baseline, scale)


if __name__ == "__main__":
    main()
