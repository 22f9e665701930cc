"""``Fetcher``: the loader for documents, ``<script src>``, ``<data src>`` and ``<invoke src>``.

Only configured locations can be read: files inside allowed folders, and http(s) URLs
under allowed prefixes. Nothing else, so a document cannot make the server read its
own files or reach internal addresses by naming them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from orchestrion.errors import DocumentFetchError

DEFAULT_MAX_BYTES = 4 * 1024 * 1024
DEFAULT_TIMEOUT_S = 10.0


class Fetcher:
    """A loader ``(absolute_url) -> text`` restricted to allowed folders and URL prefixes.

    ``allowed`` entries are folders (paths or ``file:`` URLs) or ``http(s)://`` prefixes.
    A bare path or ``file:`` URL is read from disk; it must resolve (symlinks followed)
    to a file inside an allowed folder.
    """

    def __init__(
        self,
        allowed: Iterable[str | Path],
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.folders: list[Path] = []
        self.prefixes: list[str] = []
        for entry in allowed:
            text = str(entry)
            if text.startswith(("http://", "https://")):
                self.prefixes.append(text)
            else:
                self.folders.append(_path_of(text).resolve())
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    def __call__(self, url: str) -> str:
        if url.startswith(("http://", "https://")):
            return self._fetch_http(url)
        if "://" in url and not url.startswith("file:"):
            raise DocumentFetchError(f"unsupported URL scheme in {url!r}")
        return self._read_file(_path_of(url))

    def _read_file(self, path: Path) -> str:
        resolved = path.resolve()
        if not any(resolved.is_relative_to(folder) for folder in self.folders):
            raise DocumentFetchError(f"{str(path)!r} is not inside an allowed folder")
        try:
            with resolved.open("rb") as handle:
                raw = handle.read(self.max_bytes + 1)
        except OSError as exc:
            raise DocumentFetchError(f"cannot read {str(path)!r}: {exc.strerror}") from exc
        return self._decode(raw, str(path))

    def _fetch_http(self, url: str) -> str:
        if not any(url.startswith(prefix) for prefix in self.prefixes):
            raise DocumentFetchError(f"{url!r} is not under an allowed URL prefix")
        import httpx

        try:
            with (
                httpx.Client(timeout=self.timeout_s, follow_redirects=False) as client,
                client.stream("GET", url) as response,
            ):
                if response.status_code != 200:
                    raise DocumentFetchError(f"GET {url} answered {response.status_code}")
                raw = b""
                for chunk in response.iter_bytes():
                    raw += chunk
                    if len(raw) > self.max_bytes:
                        break
        except httpx.HTTPError as exc:
            raise DocumentFetchError(f"cannot fetch {url!r}: {exc}") from exc
        return self._decode(raw, url)

    def _decode(self, raw: bytes, where: str) -> str:
        if len(raw) > self.max_bytes:
            raise DocumentFetchError(f"{where!r} is larger than {self.max_bytes} bytes")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DocumentFetchError(f"{where!r} is not UTF-8 text") from exc


def _path_of(location: str) -> Path:
    """A filesystem path from a bare path or a ``file:`` URL (``file:///a``, ``file:a``)."""
    if location.startswith("file:"):
        parts = urlsplit(location)
        if parts.netloc not in ("", "localhost"):
            raise DocumentFetchError(f"remote file URL {location!r} is not supported")
        return Path(unquote(parts.path))
    return Path(location)


def file_url(path: Path) -> str:
    """The absolute ``file:`` URL of a path (the ``location`` of a loaded document)."""
    return path.resolve().as_uri()
