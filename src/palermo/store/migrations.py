"""Versioned schema. Migrations are numbered SQL files applied in order, each in its own
transaction, recorded in ``schema_version``. A workspace newer than this code is refused."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from palermo.errors import SchemaTooNew
from palermo.store.engine import Engine


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    folder = resources.files("palermo.store") / "migrations"
    found = []
    for item in folder.iterdir():
        if item.name.endswith(".sql"):
            number, _, rest = item.name.partition("_")
            found.append(Migration(int(number), rest.removesuffix(".sql"), item.read_text()))
    return sorted(found, key=lambda m: m.version)


def latest_version() -> int:
    return migrations()[-1].version


def current_version(engine: Engine) -> int:
    exists = engine.rows(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
    )[0][0]
    if not exists:
        return 0
    return int(engine.rows("SELECT coalesce(max(version), 0) FROM schema_version")[0][0])


def migrate(engine: Engine) -> list[int]:
    """Bring the workspace to the latest schema; returns the versions applied."""
    engine.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
    )
    current = current_version(engine)
    latest = latest_version()
    if current > latest:
        raise SchemaTooNew(
            f"workspace schema is version {current}, this Palermo knows up to {latest}: upgrade Palermo"
        )
    applied = []
    for migration in migrations():
        if migration.version <= current:
            continue
        with engine.transaction():
            for statement in _split(migration.sql):
                engine.execute(statement)
            engine.execute(
                "INSERT INTO schema_version VALUES (?, ?, now())",
                [migration.version, migration.name],
            )
        applied.append(migration.version)
    return applied


def _split(sql: str) -> list[str]:
    """Split a migration into statements (our migrations hold no ';' inside literals)."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]
