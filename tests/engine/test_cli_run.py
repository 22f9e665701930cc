"""``orchestrion run``: its last stdout line is one JSON object, and its exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HEAD = '<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript"'

ORDER = f"""{HEAD} initial="idle">
  <datamodel><data id="total" expr="0"/></datamodel>
  <state id="idle">
    <transition event="add" target="idle">
      <assign location="total" expr="total + _event.data.n"/>
    </transition>
    <transition event="check" cond="total == 5" target="ok"/>
    <transition event="check" target="wrong"/>
  </state>
  <final id="ok"><onentry><log label="total" expr="total"/></onentry></final>
  <final id="wrong"/>
</scxml>"""

DELAYED = f"""{HEAD}>
  <state id="wait">
    <onentry><send event="tick" delay="200ms"/></onentry>
    <transition event="tick" target="done"/>
  </state>
  <final id="done"/>
</scxml>"""


CLI = "from orchestrion.cli import main; main()"


def run(tmp_path: Path, source: str, *args: str) -> tuple[int, dict[str, Any] | None, str]:
    path = tmp_path / "doc.scxml"
    path.write_text(source, encoding="utf-8")
    command = [sys.executable, "-c", CLI, "run", str(path), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1]) if lines else None
    return done.returncode, result, done.stderr


@pytest.mark.parametrize("restore", [False, True])
def test_events_in_order_reach_a_final_state(tmp_path: Path, restore: bool) -> None:
    flags = ["--restore-each-step"] if restore else []
    code, result, stderr = run(
        tmp_path,
        ORDER,
        "--event",
        'add:{"n": 2}',
        "--event",
        'add:{"n": 3}',
        "--event",
        "check",
        *flags,
    )
    assert code == 0
    assert result is not None
    assert (result["status"], result["final"], result["error"]) == ("final", "ok", None)
    assert result["configuration"] == ["ok"]
    assert isinstance(result["sessionid"], str) and result["sessionid"]
    assert "total: 5" in stderr


def test_idle_when_nothing_is_left_to_do(tmp_path: Path) -> None:
    code, result, _ = run(tmp_path, ORDER, "--event", 'add:{"n": 1}')
    assert code == 0
    assert result == {
        "sessionid": result["sessionid"] if result else None,
        "status": "idle",
        "final": None,
        "configuration": ["idle"],
        "error": None,
    }


def test_delayed_send_fires_in_real_time(tmp_path: Path) -> None:
    code, result, _ = run(tmp_path, DELAYED, "--restore-each-step")
    assert code == 0 and result is not None and result["final"] == "done"


def test_timeout_exits_3(tmp_path: Path) -> None:
    code, result, _ = run(tmp_path, DELAYED.replace("200ms", "30s"), "--timeout", "0.3")
    assert code == 3
    assert result is not None and result["status"] == "timeout"
    assert result["configuration"] == ["wait"]


def test_rejected_document_exits_2_with_the_error_on_stderr(tmp_path: Path) -> None:
    broken = DELAYED.replace('target="done"', 'target="nowhere"')
    code, result, stderr = run(tmp_path, broken)
    assert code == 2
    assert result is None
    assert "unknown target state 'nowhere'" in stderr and "line 4" in stderr


def test_bad_event_argument_is_an_error(tmp_path: Path) -> None:
    code, result, stderr = run(tmp_path, ORDER, "--event", "add:{not json")
    assert code == 4
    assert result is not None and result["status"] == "error"
    assert "bad --event" in stderr
