"""Schemathesis against the app's OpenAPI schema: generated requests, no server error, responses as documented."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from api.app import create_app


@pytest.fixture(scope="module")
def schema(demo_stack: Any) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(demo_stack, rate_limit=(0.0, 1)))


def test_generated_requests_never_cause_a_server_error(schema: Any) -> None:
    failures: list[str] = []
    calls = 0
    # ingest and catalog import read server files; they are exercised by their own tests
    for op in schema.get_all_operations():
        operation = op.ok()
        if operation.path in ("/v1/ingest", "/v1/catalog/import") or operation.method.upper() in ("DELETE",):
            continue

        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            nonlocal calls
            calls += 1
            response = case.call()
            if response.status_code >= 500:
                failures.append(f"{operation.method.upper()} {operation.path}: {response.status_code} {response.text[:200]}")  # noqa: B023 (run() is called right here)
            elif response.status_code >= 400:
                body = response.json()  # every error in the one shape
                if set(body) != {"error"} or not body["error"].get("message"):
                    failures.append(f"{operation.method.upper()} {operation.path}: error shape {response.text[:200]}")  # noqa: B023

        run()
    print(f"\nschemathesis: {calls} generated calls")
    assert calls > 50 and failures == [], "\n".join(failures[:10])


def test_every_matching_criterion_of_the_fact_table_is_a_products_query_parameter(client: Any) -> None:
    """The fact-type table is the one place a criterion is added: the API's parameters follow it."""
    from domain.facts import CRITERIA

    parameters = client.get("/openapi.json").json()["paths"]["/v1/products"]["get"]["parameters"]
    by_name = {p["name"]: p for p in parameters if p["in"] == "query"}
    json_type = {int: "integer", float: "number", bool: "boolean"}
    for _, criterion in CRITERIA:
        schema = by_name[criterion.param]["schema"]
        types = {s.get("type") for s in schema.get("anyOf", [schema])}
        assert json_type[criterion.kind] in types, (criterion.param, schema)
    assert {"category", "status", "insurer"} <= set(by_name)
    # and a bad value is refused in the one error shape, naming the parameter
    bad = client.get("/v1/products", params={CRITERIA[0][1].param: "abc"})
    assert bad.status_code == 400 and CRITERIA[0][1].param in bad.json()["error"]["message"]
