"""The workspace store: the one owner of a workspace's data (DuckDB by default)."""

from palermo.store.access import Scope
from palermo.store.workspace import Store

__all__ = ["Scope", "Store"]
