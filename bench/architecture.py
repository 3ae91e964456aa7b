"""Architecture figures from the code itself: package dependencies (and which point upward),
the largest functions and classes, and how often ``Any`` / ``dict[str, Any]`` appear.

    .venv/bin/python bench/architecture.py [ROOT]

Layers, top to bottom, as in pyproject.toml's import-linter contract; an import from a lower
layer to a higher one (or between the independent siblings) is counted as upward.
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from pathlib import Path

LAYERS = [("brokerkg.cli",), ("api",), ("brokerkg",), ("retrieval", "ingest"), ("graph", "index", "prompts"), ("domain",)]
PACKAGES = ["brokerkg", "api", "retrieval", "ingest", "graph", "index", "prompts", "domain"]


def layer_of(module: str) -> tuple[int, str] | None:
    for i, names in enumerate(LAYERS):
        for name in names:
            if module == name or module.startswith(name + "."):
                return i, name
    return None


def main(root: Path) -> None:
    deps: Counter[tuple[str, str]] = Counter()
    functions: list[tuple[int, str]] = []
    classes: list[tuple[int, str]] = []
    any_count = dict_any = 0
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")) if (root / package).is_dir() else []:
            rel = path.relative_to(root)
            module = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
            text = path.read_text(encoding="utf-8")
            any_count += text.count("Any")
            dict_any += text.count("dict[str, Any]")
            tree = ast.parse(text)
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    targets = [node.module]
                elif isinstance(node, ast.Import):
                    targets = [a.name for a in node.names]
                else:
                    targets = []
                for target in targets:
                    a, b = layer_of(module), layer_of(target)
                    if a and b and a[1] != b[1]:
                        deps[(a[1], b[1])] += 1
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    functions.append((node.end_lineno - node.lineno + 1, f"{rel}:{node.name}"))  # type: ignore[operator]
                elif isinstance(node, ast.ClassDef):
                    classes.append((node.end_lineno - node.lineno + 1, f"{rel}:{node.name}"))  # type: ignore[operator]
    rank = {name: i for i, names in enumerate(LAYERS) for name in names}
    upward = sorted((a, b) for a, b in deps if rank[b] < rank[a] or (rank[a] == rank[b] and a != b))
    print(f"package dependencies: {len(deps)}, upward or between siblings: {len(upward)}")
    for a, b in upward:
        print(f"  {a} -> {b} ({deps[(a, b)]} imports)")
    print("largest functions: " + ", ".join(f"{name} {n}" for n, name in sorted(functions, reverse=True)[:3]))
    print("largest classes:   " + ", ".join(f"{name} {n}" for n, name in sorted(classes, reverse=True)[:3]))
    print(f"'Any': {any_count}, 'dict[str, Any]': {dict_any}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]))
