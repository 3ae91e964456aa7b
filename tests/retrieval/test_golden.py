"""The golden set over the demo corpus: the expected article or clause in the top 5, every flag present."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from retrieval.golden import load_golden, score

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "questions.jsonl"


def test_golden_set_hit_at_5_and_flags(demo_stack: Any) -> None:
    items = load_golden(GOLDEN)
    assert len(items) >= 40
    answers = [demo_stack.retriever.ask(item["q"]).to_dict() for item in items]
    result = score(items, answers)
    print(f"\ngolden set: {result.total} questions, hit@1 {result.hit_at_1:.3f}, hit@5 {result.hit_at_5:.3f}")
    assert result.hit_at_5 >= 0.9, "\n".join(result.misses)
    assert result.missing_flags == []
    # no answer without evidence markers, and no marker without a citation
    for answer in answers:
        assert answer["citations"] and "[1]" in answer["answer"]
