"""Neo4j through the official driver: managed transactions via ``execute_query``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from brokerkg.errors import BrokerKGError, DependencyError
from graph.dialect import NEO4J, Dialect


class BoltExecutor:
    dialect: Dialect = NEO4J

    def __init__(self, driver: Any, database: str) -> None:
        self._driver = driver
        self._database = database

    @classmethod
    def connect(cls, uri: str, user: str, password: str, database: str) -> BoltExecutor:
        import neo4j

        driver = neo4j.GraphDatabase.driver(uri, auth=(user, password))
        try:
            driver.verify_connectivity()
        except neo4j.exceptions.Neo4jError as exc:
            driver.close()
            raise DependencyError(f"cannot log in to Neo4j at {uri}: {exc.message}; check BROKERKG_GRAPH_USER/PASSWORD") from exc
        except Exception as exc:
            driver.close()
            raise DependencyError(f"Neo4j at {uri} is unreachable ({exc}); check BROKERKG_GRAPH_URI") from exc
        return cls(driver, database)

    def run(self, query: str, params: Mapping[str, Any] | None = None, *, write: bool = False) -> list[dict[str, Any]]:
        import neo4j

        try:
            records, _, _ = self._driver.execute_query(
                query,
                dict(params or {}),
                database_=self._database,
                routing_=neo4j.RoutingControl.WRITE if write else neo4j.RoutingControl.READ,
            )
        except (neo4j.exceptions.ServiceUnavailable, neo4j.exceptions.SessionExpired) as exc:
            raise DependencyError("graph server unavailable; retry shortly") from exc
        except neo4j.exceptions.Neo4jError as exc:
            raise BrokerKGError(f"graph query failed: {exc.message}") from exc
        return [record.data() for record in records]

    def close(self) -> None:
        self._driver.close()
