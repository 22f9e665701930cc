"""Print the W3C tally (passed / failed / expected failures, per mode) at the end."""

from __future__ import annotations

from collections import Counter

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    tally: Counter[tuple[str, str]] = Counter()
    for outcome in ("passed", "failed", "xfailed", "xpassed", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            nodeid = getattr(report, "nodeid", "")
            if "test_w3c[" not in nodeid or getattr(report, "when", "call") != "call":
                continue
            mode = nodeid.rsplit("-", 1)[-1].rstrip("]")
            tally[(mode, outcome)] += 1
    if not tally:
        return
    terminalreporter.section("W3C SCXML conformance")
    for mode in sorted({mode for mode, _ in tally}):
        counts = ", ".join(
            f"{tally[(mode, o)]} {o}"
            for o in ("passed", "failed", "xfailed", "xpassed")
            if tally[(mode, o)]
        )
        terminalreporter.write_line(f"{mode}: {counts}")
