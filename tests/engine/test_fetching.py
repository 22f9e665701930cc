"""``Fetcher``: reads only inside allowed folders and under allowed URL prefixes."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import load_document
from orchestrion.errors import DocumentFetchError
from orchestrion.fetching import Fetcher, file_url


def test_reads_files_inside_allowed_folders_by_path_or_file_url(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello", encoding="utf-8")
    fetch = Fetcher([tmp_path])
    assert fetch(str(tmp_path / "a.txt")) == "hello"
    assert fetch(file_url(tmp_path / "a.txt")) == "hello"


def test_refuses_files_outside_allowed_folders_and_symlink_escapes(tmp_path: Path) -> None:
    allowed = tmp_path / "docs"
    allowed.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("no", encoding="utf-8")
    (allowed / "link.txt").symlink_to(secret)
    fetch = Fetcher([allowed])
    for location in (str(secret), file_url(secret), str(allowed / ".." / "secret.txt")):
        with pytest.raises(DocumentFetchError, match="not inside an allowed folder"):
            fetch(location)
    with pytest.raises(DocumentFetchError, match="not inside an allowed folder"):
        fetch(str(allowed / "link.txt"))


def test_refuses_urls_outside_prefixes_and_other_schemes(tmp_path: Path) -> None:
    fetch = Fetcher([tmp_path, "https://docs.example.org/scxml/"])
    with pytest.raises(DocumentFetchError, match="not under an allowed URL prefix"):
        fetch("http://169.254.169.254/latest/meta-data/")
    with pytest.raises(DocumentFetchError, match="not under an allowed URL prefix"):
        fetch("https://docs.example.org/other/x.scxml")
    with pytest.raises(DocumentFetchError, match="unsupported URL scheme"):
        fetch("ftp://docs.example.org/scxml/x.scxml")


def test_missing_and_oversized_files_are_fetch_errors(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("x" * 100, encoding="utf-8")
    fetch = Fetcher([tmp_path], max_bytes=10)
    with pytest.raises(DocumentFetchError, match="cannot read"):
        fetch(str(tmp_path / "missing.txt"))
    with pytest.raises(DocumentFetchError, match="larger than 10 bytes"):
        fetch(str(tmp_path / "big.txt"))


def test_relative_src_resolves_against_the_referring_document(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "values.json").write_text('{"n": 3}', encoding="utf-8")
    main = tmp_path / "main.scxml"
    main.write_text(
        '<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0">'
        '<datamodel><data id="v" src="file:sub/values.json"/></datamodel><state id="a"/></scxml>',
        encoding="utf-8",
    )
    doc = load_document(main.read_text(encoding="utf-8"), file_url(main), Fetcher([tmp_path]))
    assert doc.root.data[0].value == {"n": 3}
