"""The one exception hierarchy of Orchestrion.

Every error raised on purpose derives from :class:`OrchestrionError`. Callers catch the
narrowest class that they can act on; the HTTP layer maps these classes to status codes.
"""

from __future__ import annotations

from dataclasses import dataclass


class OrchestrionError(Exception):
    """Root of every error Orchestrion raises on purpose."""


class ConfigError(OrchestrionError):
    """The configuration file or environment holds an invalid or missing option."""


@dataclass(frozen=True)
class SourceLocation:
    """Where in an SCXML document something is: element, attribute and line."""

    element: str | None = None
    attribute: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        parts = []
        if self.element:
            parts.append(f"<{self.element}>")
        if self.attribute:
            parts.append(f"attribute '{self.attribute}'")
        if self.line is not None:
            parts.append(f"line {self.line}")
        return ", ".join(parts)


class DocumentError(OrchestrionError):
    """An SCXML document was rejected at load time.

    The message says what is wrong; ``location`` says where in the document.
    """

    def __init__(self, message: str, location: SourceLocation | None = None) -> None:
        self.reason = message
        self.location = location or SourceLocation()
        where = str(self.location)
        super().__init__(f"{message} ({where})" if where else message)


class DocumentFetchError(OrchestrionError):
    """A document (or a script or data ``src``) could not be fetched or is not allowed."""


class SnapshotError(OrchestrionError):
    """A session snapshot cannot be restored: another document's, unknown format, corrupt."""


class MacrostepLimitError(OrchestrionError):
    """A macrostep never became stable (an endless loop); discard the live session."""


class SessionNotFound(OrchestrionError):
    """No active session has this id."""


class StoreError(OrchestrionError):
    """A store operation failed."""


class StoreUnavailable(StoreError):
    """The store cannot be reached; the alarm is raised until it comes back."""


class VersionConflict(StoreError):
    """A write would go backwards or overwrite a newer version."""


class LeaseLost(StoreError):
    """The writer's lease (fencing token) is no longer the current one."""


class BrokerUnavailable(OrchestrionError):
    """The Celery broker cannot be reached."""


class InvalidRequest(OrchestrionError):
    """A request (HTTP body, parameter, command-line input) is malformed or not allowed.

    ``code`` is a stable machine-readable name; ``where`` names the offending part
    (a field path such as ``data.x``, a parameter, a header), or is None.
    """

    def __init__(self, message: str, *, code: str = "invalid_request", where: str | None = None):
        self.code = code
        self.where = where
        super().__init__(message)
