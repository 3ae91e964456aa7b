"""A stand-in for the neo4j driver, behind the driver's own session interface.

``driver.session(database=, default_access_mode=)`` → a session whose ``execute_read`` /
``execute_write`` call the transaction function with a ``tx`` whose ``run`` returns real
``neo4j.Record`` objects. Statements execute on the bundled FalkorDB server, so BrokerKG's
real queries run against a real graph; read transactions go through FalkorDB's read-only
entry point, so a write declared as a read fails as it would on a Neo4j read replica.
Schema statements (Neo4j-only syntax) are recorded, not run. Like the driver, a retryable
error makes the session rerun the whole transaction function (up to ``retries`` times).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import neo4j
from neo4j.exceptions import Neo4jError

from domain.errors import BrokerKGError
from graph.dialect import FALKORDB


def neo4j_error(code: str, message: str = "") -> Neo4jError:
    return Neo4jError._hydrate_neo4j(code=code, message=message or code)


@dataclass
class Transaction:
    mode: str
    statements: list[str] = field(default_factory=list)


class FakeDriver:
    def __init__(self, graph: Any, retries: int = 3) -> None:
        self.graph = graph  # a FalkorExecutor
        self.retries = retries
        self.faults: list[Exception] = []  # raised by the next tx.run calls, in order
        self.transactions: list[Transaction] = []
        self.schema: list[str] = []
        self.databases: set[str] = set()
        self.closed = False
        # The bundled graph gets its own indexes (a FalkorDB graph exists once written to).
        for statement in FALKORDB.schema:
            try:
                graph.run(statement, write=True)
            except BrokerKGError as exc:
                if not FALKORDB.is_benign_schema_error(str(exc)):
                    raise

    def session(self, database: str | None = None, default_access_mode: str = neo4j.WRITE_ACCESS) -> FakeSession:
        self.databases.add(str(database))
        return FakeSession(self, default_access_mode)

    def close(self) -> None:
        self.closed = True


class FakeSession:
    def __init__(self, driver: FakeDriver, mode: str) -> None:
        self.driver, self.mode = driver, mode

    def __enter__(self) -> FakeSession:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute_read(self, work: Any, *args: Any, **kwargs: Any) -> Any:
        return self._managed(neo4j.READ_ACCESS, work, args, kwargs)

    def execute_write(self, work: Any, *args: Any, **kwargs: Any) -> Any:
        return self._managed(neo4j.WRITE_ACCESS, work, args, kwargs)

    def _managed(self, mode: str, work: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        for attempt in range(self.driver.retries + 1):
            tx = FakeTx(self.driver, Transaction(mode))
            try:
                result = work(tx, *args, **kwargs)
            except Neo4jError as exc:
                if exc.is_retryable() and attempt < self.driver.retries:
                    continue
                raise
            except neo4j.exceptions.DriverError as exc:
                if exc.is_retryable() and attempt < self.driver.retries:
                    continue
                raise
            self.driver.transactions.append(tx.record)
            return result
        raise AssertionError("unreachable")


class FakeTx:
    def __init__(self, driver: FakeDriver, record: Transaction) -> None:
        self.driver, self.record = driver, record

    def run(self, query: str, parameters: Mapping[str, Any] | None = None) -> list[neo4j.Record]:
        if self.driver.faults:
            raise self.driver.faults.pop(0)
        self.record.statements.append(query)
        if query.lstrip().startswith(("CREATE CONSTRAINT", "CREATE INDEX", "CREATE FULLTEXT INDEX")):
            self.driver.schema.append(query)
            return []
        try:
            rows = self.driver.graph.run(query, parameters, write=self.record.mode == neo4j.WRITE_ACCESS)
        except BrokerKGError as exc:
            raise neo4j_error("Neo.ClientError.Statement.SyntaxError", str(exc)) from exc
        return [neo4j.Record(row) for row in rows]
