"""Types and helpers shared by the persistence tests (a module name no other test folder uses)."""

from __future__ import annotations

from collections.abc import Callable

from persistence.resilient import ResilientStore

StoreFactory = Callable[[], ResilientStore]
"""Opens another store on the same data as the test's ``store``."""
