"""The W3C SCXML 1.0 implementation report tests, run in-process through LocalRuntime.

One test per start document and mode: ``plain`` runs the session as is, ``restore``
snapshots every session to JSON text after every macrostep and restores it in a fresh
interpreter and data model. A document passes when its session ends in
``<final id="pass">``. HTTP (``http-ioproc``) and manual tests are not collected here.
The suite's location is ``/work/shared/w3c-scxml`` unless ``ORCHESTRION_W3C_DIR`` says.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from orchestrion.runner import LocalRuntime

W3C_DIR = Path(os.environ.get("ORCHESTRION_W3C_DIR", "/work/shared/w3c-scxml"))
MODES = ("plain", "restore")
MIN_TIMEOUT_S = 30.0

KNOWN_FAILURES: dict[str, str] = {}
"""Test name (``test452``) -> one-line reason; these are xfail(strict=True)."""


@dataclass(frozen=True)
class W3CDocument:
    test: str
    path: Path
    max_delay_s: float

    @property
    def name(self) -> str:
        return self.path.stem


def _manifest() -> list[W3CDocument]:
    manifest = W3C_DIR / "manifest.tsv"
    if not manifest.exists():
        return []
    documents = []
    with manifest.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            flags = set(filter(None, row["flags"].split(",")))
            if "http-ioproc" in flags or row["manual"] == "yes":
                continue
            for file in row["files"].split():
                stem = Path(file).stem
                if file.endswith(".scxml") and "sub" not in stem:
                    documents.append(
                        W3CDocument(
                            f"test{row['test']}", W3C_DIR / file, float(row["max_delay_s"] or 0)
                        )
                    )
    # the longest waits first, so that parallel workers finish together
    return sorted(documents, key=lambda d: -d.max_delay_s)


DOCUMENTS = _manifest()


def _params() -> list[Any]:
    params = []
    for document in DOCUMENTS:
        for mode in MODES:
            marks = [pytest.mark.w3c]
            reason = KNOWN_FAILURES.get(document.test)
            if reason is not None:
                marks.append(pytest.mark.xfail(reason=reason, strict=True))
            params.append(pytest.param(document, mode, id=f"{document.name}-{mode}", marks=marks))
    return params


@pytest.mark.skipif(not DOCUMENTS, reason=f"no W3C manifest in {W3C_DIR}")
@pytest.mark.parametrize(("document", "mode"), _params())
def test_w3c(document: W3CDocument, mode: str) -> None:
    runtime = LocalRuntime(restore_each_step=mode == "restore")
    result = runtime.run_path(document.path, timeout_s=MIN_TIMEOUT_S + document.max_delay_s)
    assert result.final == "pass", (
        f"{document.path.name} ({mode}) ended {result.status} in "
        f"{result.final or result.configuration}"
        f"{': ' + result.error if result.error else ''}; last logs {result.logs[-3:]}"
    )
