"""Fixtures of the HTTP API tests (helpers in ``apistack``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from apistack import MACHINE, Stack, build_stack, make_config

from persistence.memory import MemoryStore


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "machine.scxml").write_text(MACHINE, encoding="utf-8")
    return folder


@pytest.fixture
def stack(tmp_path: Path, docs: Path) -> Iterator[Stack]:
    built = build_stack(make_config(tmp_path, docs), MemoryStore(), docs)
    yield built
    built.node.close()
