"""The production layout as files: docker-compose.yml (validated by docker-compose itself, Debian's
package; no Docker engine needed), the Dockerfile, and the configuration table."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from brokerkg.settings import Settings
from tests.conftest import ROOT

COMPOSE = ROOT / "docker-compose.yml"


def _compose_config(path: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("BROKERKG_REQUIRE_COMPOSE"):
            pytest.fail("docker-compose is not installed (.ci/run installs Debian's package)")
        pytest.skip("docker-compose not installed: apt-get install docker-compose")
    env = {**os.environ, "NEO4J_PASSWORD": "test-password"}
    return subprocess.run([binary, "-f", str(path), "config"], capture_output=True, text=True, env=env, cwd=path.parent)


def test_compose_file_is_valid_and_wires_the_production_stores() -> None:
    result = _compose_config(COMPOSE)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)  # what compose would run, variables substituted
    services = config["services"]
    assert set(services) == {"neo4j", "qdrant", "api"}
    assert services["neo4j"]["image"].startswith("neo4j:5")
    assert "cypher-shell" in " ".join(services["neo4j"]["healthcheck"]["test"])
    assert services["qdrant"]["image"].startswith("qdrant/qdrant")
    api = services["api"]
    assert api["build"]["context"] == str(ROOT)
    assert api["depends_on"] == {"neo4j": {"condition": "service_healthy"}, "qdrant": {"condition": "service_healthy"}}
    env = api["environment"]
    assert env["BROKERKG_GRAPH_URI"] == "bolt://neo4j:7687" and env["BROKERKG_QDRANT_URL"] == "http://qdrant:6333"
    assert env["BROKERKG_GRAPH_PASSWORD"] == "test-password"
    assert "/readyz" in " ".join(api["healthcheck"]["test"])
    assert {"neo4j-data", "qdrant-data", "api-data"} <= set(config["volumes"])
    # every BROKERKG_ variable the file sets is a real setting, with a valid value
    fields = {f"BROKERKG_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= fields, set(env) - fields
    Settings(**{k.removeprefix("BROKERKG_").lower(): v for k, v in env.items()})


def test_the_optional_model_server_block_is_valid_once_uncommented(tmp_path: Path) -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  # llm:"))
    enabled = []
    for i, line in enumerate(lines):
        if (i >= start and line.startswith("  #   ")) or (i == start) or line.strip() in ("# llm-cache:",):
            line = line.replace("# ", "", 1)
        if re.match(r"\s+# BROKERKG_LLM_", line):
            line = line.replace("# ", "", 1)
        enabled.append(line)
    path = tmp_path / "docker-compose.yml"
    path.write_text("\n".join(enabled) + "\n", encoding="utf-8")
    (tmp_path / "Dockerfile").write_text((ROOT / "Dockerfile").read_text())
    result = _compose_config(path)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert "llm" in config["services"] and "llm-cache" in config["volumes"]
    assert config["services"]["api"]["environment"]["BROKERKG_LLM_BASE_URL"] == "http://llm:8000/v1"


def test_dockerfile_installs_the_runtime_and_serves() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "FROM python:3.11" in text
    assert "vendor/en_core_web_sm" in text  # the offline spaCy stand-in before anything that would download
    assert "-c constraints.txt" in text and 'CMD ["brokerkg", "serve"]' in text
    assert "[dev]" not in text  # no test tools in the image


def test_every_setting_is_in_the_configuration_table() -> None:
    table = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(BROKERKG_[A-Z0-9_]+)` \|", table, re.M))
    fields = {f"BROKERKG_{name.upper()}" for name in Settings.model_fields}
    assert documented == fields, {"undocumented": fields - documented, "stale": documented - fields}
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no description"
