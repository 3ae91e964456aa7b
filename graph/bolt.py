"""Neo4j 5 through the official driver: managed transactions, retried by the driver.

Every statement (or batch of statements, see ``run_batch``) runs in one managed
transaction (``session.execute_read`` / ``execute_write``). The driver retries the whole
transaction function on transient failures (deadlocks, leader switches in a cluster, lost
connections) for up to ``max_retry_s``; what still fails is translated into our errors:

- unreachable / no leader after the retries → DependencyError (HTTP 503 + Retry-After)
- authentication → DependencyError naming the settings
- a uniqueness constraint → ConflictError (409)
- anything else the server refuses (a Cypher error is a bug on our side) → BrokerKGError

Reads go to followers/read replicas in a cluster (``neo4j://`` routing), writes to the leader.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from domain.errors import BrokerKGError, ConflictError, DependencyError
from graph.dialect import NEO4J, Dialect

logger = logging.getLogger(__name__)

Statement = tuple[str, Mapping[str, Any] | None]


class BoltExecutor:
    dialect: Dialect = NEO4J

    def __init__(self, driver: Any, database: str) -> None:
        self._driver = driver
        self._database = database

    @classmethod
    def connect(
        cls, uri: str, user: str, password: str, database: str, *, max_retry_s: float = 15.0, pool_size: int = 50
    ) -> BoltExecutor:
        import neo4j

        driver = neo4j.GraphDatabase.driver(
            uri, auth=(user, password), max_transaction_retry_time=max_retry_s, max_connection_pool_size=pool_size,
            connection_acquisition_timeout=max_retry_s,
        )
        try:
            driver.verify_connectivity()
        except neo4j.exceptions.AuthError as exc:
            driver.close()
            raise DependencyError(f"cannot log in to Neo4j at {uri}: {exc.message}; check BROKERKG_GRAPH_USER/PASSWORD") from exc
        except Exception as exc:
            driver.close()
            raise DependencyError(f"Neo4j at {uri} is unreachable ({exc}); check BROKERKG_GRAPH_URI") from exc
        return cls(driver, database)

    def run(self, query: str, params: Mapping[str, Any] | None = None, *, write: bool = False) -> list[dict[str, Any]]:
        return self.run_batch([(query, params)], write=write)[0]

    def run_batch(self, statements: Sequence[Statement], *, write: bool = True) -> list[list[dict[str, Any]]]:
        """All statements in one transaction: they commit together or not at all (and are retried together)."""
        import neo4j

        def work(tx: Any) -> list[list[dict[str, Any]]]:
            out = []
            for query, params in statements:
                result = tx.run(query, dict(params or {}))
                out.append([record.data() for record in result])
            return out

        mode = neo4j.WRITE_ACCESS if write else neo4j.READ_ACCESS
        try:
            with self._driver.session(database=self._database, default_access_mode=mode) as session:
                return (session.execute_write if write else session.execute_read)(work)  # type: ignore[no-any-return]
        except neo4j.exceptions.AuthError as exc:
            raise DependencyError(f"Neo4j refused our credentials: {exc.message}; check BROKERKG_GRAPH_USER/PASSWORD") from exc
        except (neo4j.exceptions.ServiceUnavailable, neo4j.exceptions.SessionExpired) as exc:
            raise DependencyError("graph server unavailable; retry shortly") from exc
        except neo4j.exceptions.TransientError as exc:  # still failing after the driver's retries
            raise DependencyError(f"graph server busy ({exc.code}); retry shortly") from exc
        except neo4j.exceptions.ConstraintError as exc:
            raise ConflictError(f"graph constraint violated: {exc.message}") from exc
        except neo4j.exceptions.Neo4jError as exc:
            logger.error("Neo4j refused a statement: %s", exc.code)
            raise BrokerKGError(f"graph query failed: {exc.code}: {exc.message}") from exc
        except neo4j.exceptions.DriverError as exc:
            raise DependencyError(f"graph driver error ({type(exc).__name__}); retry shortly") from exc

    def close(self) -> None:
        self._driver.close()
