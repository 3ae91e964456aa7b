"""More than one serving process per data dir: one owner, N-1 workers, one port.

The embedded vector shard (Qdrant Edge) opens in one process only. ``brokerkg serve`` (one process
per core by default, ``--workers N``) keeps it there: the owner opens the stores as a single server does and shares, over a Unix
socket in the data dir (``share.sock``, mode 0600), what must be one per data dir:

- the vector index (queries and writes; a worker embeds its own texts, only vectors travel);
- the conversations, so a follow-up may land on any process;
- the rate limiter, so a key's limit is the same whichever process takes its requests;
- the bundled graph server's recovery: a worker that loses its connection asks the owner, which
  starts the server again if it is down (never two on one data dir) and says where it listens.

Workers reach the bundled graph server directly (it serves many clients; they learn its port and
password over the socket), and take the data dir's write lock (``write.lock``, an flock) for
ingest, catalog imports and deletes, as the owner does. A write in one process bumps the data
dir's generation (``generation``); every process reads it at the start of each request and
reloads its name lists and tokenizer words when it moved. A worker records status changes in the
alert store and wakes the owner, which alone makes alerts and sends webhooks. The audit log and
the alert store were already safe across processes (flock, append-only).

A worker's calls are kept few, since each crosses the socket (≈ 0.35 ms): the owner searches without
payloads and the worker takes them from its own cache (``index/vectors/payloads.py``), which starts
over when the owner's index version, sent with each search, moves; a new conversation reaches the
owner with its first turn. The processes count each other's requests at work (``activity``, a shared
memory map: domain/activity.py), so that a query takes every core only when no process has another
request. The owner serves once each worker has said it does (or has failed at start once). Each
process publishes its metrics in ``metrics/``, so a scrape answered by any process has all of them.

Crash safety is unchanged: a write is the same two-phase write as in one process
(ingest/writer.py), and the index only ever changes inside the owner, under its own lock. Workers
die with the owner (parent-death signal), the owner stops them on SIGTERM or SIGINT and starts
again one that exits while it serves.

The protocol is pickled tuples behind a 4-byte length, on a socket only this user can open
(mode 0600, and the owner checks the peer's user id); nothing here listens on the network.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from domain import activity
from domain.errors import BrokerKGError, DependencyError
from domain.files import Generation
from index.vectors.base import ScoredId, SearchFilter, SparseVec
from index.vectors.payloads import PayloadCache
from retrieval.conversation import Conversation, ConversationStore, Turn

logger = logging.getLogger(__name__)

SOCKET_NAME = "share.sock"
ACTIVITY_NAME = "activity"  # each process's count of requests at work (domain/activity.py)
METRICS_FOLDER = "metrics"  # each process's metrics, for a scrape that any process answers (api/observability.py)

# What a worker may call on each shared object; methods that return iterators are sent as lists.
ALLOWED: dict[str, frozenset[str]] = {
    "index": frozenset({
        "upsert", "set_payload", "delete", "ranked", "document_frequency", "dense_similarity", "retrieve", "count",
        "all_ids", "payloads", "points", "export", "optimize", "writes",
    }),
    "conversations": frozenset({"get", "add_to"}),
    "limiter": frozenset({"retry_after"}),
    "graph": frozenset({"recover_graph", "graph_server"}),
    "alerts": frozenset({"wake"}),
    "workers": frozenset({"ready"}),
}
_ITERATORS = frozenset({"payloads", "points", "export"})
_LEN = struct.Struct("!I")


def _send(sock: socket.socket, value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_LEN.pack(len(data)) + data)


def _receive(sock: socket.socket) -> Any:
    head = _exactly(sock, _LEN.size)
    return pickle.loads(_exactly(sock, _LEN.unpack(head)[0]))


def _exactly(sock: socket.socket, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        part = sock.recv(min(n - got, 1 << 20))
        if not part:
            raise ConnectionError("the peer closed the connection")
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def _peer_uid(conn: socket.socket) -> int:
    """The user id of the process at the other end of a Unix socket (SO_PEERCRED: pid, uid, gid)."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


class ShareServer:
    """The owner's side: answers workers' calls on ``targets`` (one thread per connection)."""

    def __init__(self, path: Path, targets: dict[str, Any]) -> None:
        """``path``: in the data dir; a data dir whose path is too long for a Unix socket (108
        bytes on Linux) gets one in a new private temporary folder instead."""
        self._folder: Path | None = None
        if len(os.fsencode(path)) > 100:
            self._folder = Path(tempfile.mkdtemp(prefix="brokerkg-"))  # 0700
            path = self._folder / path.name
        self.path = path
        self.targets = targets
        path.unlink(missing_ok=True)  # left by an owner that was killed (this one holds the data dir's lock)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(path))  # connecting needs write permission: with the usual umask only this user has it
        os.chmod(path, 0o600)
        self._sock.listen(64)
        self._closed = False
        self._thread = threading.Thread(target=self._accept, name="share-server", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            if _peer_uid(conn) != os.getuid():  # the file's mode says so too; this holds if the dir is shared
                logger.warning("refused a connection to %s from another user", self.path)
                conn.close()
                continue
            threading.Thread(target=self._serve, args=(conn,), name="share-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            while True:
                try:
                    target, method, args, kwargs = _receive(conn)
                except (ConnectionError, OSError, EOFError):
                    return
                try:
                    reply: tuple[str, Any] = ("ok", self._call(target, method, args, kwargs))
                except Exception as exc:  # the worker raises it again; the owner keeps serving
                    kind = "dependency" if isinstance(exc, DependencyError) else "error"
                    reply = (kind, str(exc) or type(exc).__name__)
                try:
                    _send(conn, reply)
                except OSError:
                    return

    def _call(self, target: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if method not in ALLOWED.get(target, ()):
            raise BrokerKGError(f"not shared: {target}.{method}")
        attr = getattr(self.targets[target], method)
        if not callable(attr):
            return attr
        value = attr(*args, **kwargs)
        return list(value) if method in _ITERATORS else value

    def close(self) -> None:
        self._closed = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        self.path.unlink(missing_ok=True)
        if self._folder is not None:
            self._folder.rmdir()


class ShareClient:
    """A worker's side: one connection per thread to the owner's socket."""

    def __init__(self, path: Path, timeout_s: float = 60.0) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self._local = threading.local()
        self._all: list[socket.socket] = []
        self._guard = threading.Lock()

    def _conn(self) -> socket.socket:
        conn: socket.socket | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            conn.settimeout(self.timeout_s)
            try:
                conn.connect(str(self.path))
            except OSError as exc:
                conn.close()
                raise DependencyError(f"the process owning the data dir does not answer at {self.path}: {exc}") from exc
            self._local.conn = conn
            with self._guard:
                self._all.append(conn)
        return conn

    def call(self, target: str, method: str, *args: Any, **kwargs: Any) -> Any:
        conn = self._conn()
        try:
            _send(conn, (target, method, args, kwargs))
            kind, value = _receive(conn)
        except (OSError, ConnectionError, EOFError) as exc:
            self._local.conn = None
            conn.close()
            raise DependencyError(f"the process owning the data dir stopped answering ({target}.{method}): {exc}") from exc
        if kind == "ok":
            return value
        if kind == "dependency":
            raise DependencyError(value)
        raise BrokerKGError(value)

    def close(self) -> None:
        with self._guard:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()


class RemoteIndex:
    """The owner's vector index, seen from a worker (``index.vectors.base.VectorIndex``)."""

    _WRITES = frozenset({"upsert", "set_payload", "delete"})

    def __init__(self, client: ShareClient, dim: int, generation: Generation) -> None:
        """``generation``: the data dir's mark of catalog changes (bumped by every ingest, delete and
        catalog import, in whichever process)."""
        self._client = client
        self.dim = dim
        self._generation = generation
        self._own_writes = 0
        self._owner_version = 0
        self._payloads = PayloadCache()

    def __getattr__(self, method: str) -> Any:
        if method not in ALLOWED["index"]:  # (writes and the iterators are defined below)
            raise AttributeError(method)
        if method not in self._WRITES:
            return lambda *args, **kwargs: self._client.call("index", method, *args, **kwargs)

        def write(*args: Any, **kwargs: Any) -> Any:
            try:
                return self._client.call("index", method, *args, **kwargs)
            finally:
                self._own_writes += 1  # (a failed write may have changed something too)
        return write

    def hybrid(self, dense: list[float] | None, sparse: SparseVec | None, flt: SearchFilter, limit: int,
               prefetch: int) -> list[ScoredId]:
        """The owner searches without payloads, which come from this worker's payload cache."""
        ranked, version = self._client.call("index", "ranked", dense, sparse, flt, limit, prefetch)
        self._owner_version = max(self._owner_version, version)
        return self._payloads.complete(ranked, version, self.retrieve)

    @property
    def writes(self) -> int:
        """Moves when what the index holds may have changed, for readers' caches of it (the document
        frequencies), with no call to the owner: on this worker's own writes, on the data dir's
        generation (every ingest, delete and catalog import) and on the owner's index version,
        which comes with each search. So another process's write that leaves the generation alone
        (an audience change) shows at this worker's next search."""
        generation = int.from_bytes(self._generation.current() or bytes(8), "little")
        return self._own_writes + generation + self._owner_version

    def payloads(self, *args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        return iter(self._client.call("index", "payloads", *args, **kwargs))

    def points(self, *args: Any, **kwargs: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        return iter(self._client.call("index", "points", *args, **kwargs))

    def export(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        return iter(self._client.call("index", "export", *args, **kwargs))

    def close(self) -> None:
        self._client.close()


class RemoteConversations(ConversationStore):
    """The owner's conversations, seen from a worker. A new conversation costs no call until its first
    turn is added: the owner keeps it from then on, so a follow-up may land on any process."""

    def __init__(self, client: ShareClient) -> None:
        super().__init__()
        self._client = client
        self._begun: weakref.WeakValueDictionary[str, Conversation] = weakref.WeakValueDictionary()

    def get(self, conversation_id: str | None) -> Conversation:
        if not conversation_id:
            conv = Conversation(uuid.uuid4().hex)
            self._begun[conv.id] = conv  # until its first turn, or until the request lets go of it
            return conv
        found: Conversation = self._client.call("conversations", "get", conversation_id)
        return found

    def add(self, conv: Conversation, turn: Turn) -> None:
        begun = self._begun.get(conv.id) is conv
        self._client.call("conversations", "add_to", conv.id, turn, keep=begun)
        if begun:  # kept by the owner from now on (if the call failed, the next turn asks again)
            self._begun.pop(conv.id, None)
        conv.turns.append(turn)


WORKER_ENV = "BROKERKG_WORKER_OF"  # set by the owner for its workers only (not a setting)


class Workers:
    """The N-1 worker processes of ``brokerkg serve --workers N``, each accepting on its own socket
    of the port's SO_REUSEPORT group (connections the kernel gives a worker that is not up yet wait
    in its socket's queue). One that exits while the owner serves is started again, after a pause
    that doubles while it keeps failing at start (up to a minute); all are stopped, SIGTERM then
    SIGKILL, when the owner stops, and die with it if it is killed (parent-death signal)."""

    START_S = 30.0  # an exit this soon after the start counts as failing at start
    MAX_PAUSE_S = 60.0
    COMMAND = [sys.executable, "-P", "-m", "brokerkg.cli", "serve"]  # -P: not the current folder's modules

    def __init__(self, listeners: list[socket.socket], share_socket: Path,
                 stopping: Callable[[], bool] = lambda: False) -> None:
        """``listeners``: one per worker (the port's SO_REUSEPORT group), held here too, so that the
        connections the kernel gives a worker that is being started again wait for it in its queue;
        ``stopping``: the owner is shutting down: start no more."""
        self.count = len(listeners)
        self._fds = [os.dup(listener.fileno()) for listener in listeners]
        for fd in self._fds:
            os.set_inheritable(fd, True)
        self._share = str(share_socket)
        self._stopping = stopping
        self._procs: list[tuple[subprocess.Popen[bytes] | None, float]] = []
        self._failures = [0] * self.count
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._serving: set[int] = set()
        self._failed: set[int] = set()  # exited before it served, once or more
        self._serving_guard = threading.Condition()
        self._thread = threading.Thread(target=self._supervise, name="workers", daemon=True)

    def start(self) -> Workers:
        self._thread.start()
        self._ready.wait(30)
        return self

    def ready(self, process: int) -> None:
        """Worker ``process`` (1…N-1) has opened the stores and serves from now on (it says so over the socket)."""
        with self._serving_guard:
            self._serving.add(process)
            self._serving_guard.notify_all()

    def wait_ready(self, timeout_s: float) -> list[int]:
        """Wait until every worker serves or has failed at start once, at most ``timeout_s``: the
        workers that do not serve. Until a worker serves, the connections the kernel gives its socket
        wait in its queue, so the owner serves only once they are up, or once waiting longer would
        keep the port closed for nothing (a worker that fails is started again meanwhile)."""
        with self._serving_guard:
            self._serving_guard.wait_for(lambda: len(self._serving | self._failed) >= self.count, timeout_s)
            return [n for n in range(1, self.count + 1) if n not in self._serving]

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc, _ in self._procs if proc is not None]

    def _spawn(self, number: int) -> tuple[subprocess.Popen[bytes] | None, float]:
        from graph.falkor import die_with_parent

        fd = self._fds[number - 1]
        env = {**os.environ, WORKER_ENV: json.dumps({"fd": fd, "share": self._share, "process": number})}
        try:
            proc = subprocess.Popen(
                self.COMMAND, env=env, pass_fds=(fd,),
                start_new_session=True,  # a terminal's Ctrl-C reaches the owner, which stops the workers
                preexec_fn=die_with_parent(),  # tied to this thread, which lives until stop()
            )
        except OSError as exc:  # out of processes or memory: the owner serves on, the next round tries again
            logger.error("could not start worker %d: %s", number, exc)
            return None, time.monotonic()
        return proc, time.monotonic()

    def _supervise(self) -> None:
        """Runs on one thread for the pool's life: the parent-death signal is tied to the thread that forks."""
        try:
            self._procs = [self._spawn(i + 1) for i in range(self.count)]
        finally:
            self._ready.set()
        due = [0.0] * self.count  # when a worker that exited may start again
        while not self._stop.wait(0.5):
            if self._stopping():
                break
            now = time.monotonic()
            for i, (proc, started) in enumerate(self._procs):
                code = proc.poll() if proc is not None else -1
                if code is None:
                    continue
                if not due[i]:
                    activity.forget(i + 1)  # a worker that died at work left its count
                    with self._serving_guard:
                        if i + 1 not in self._serving:
                            self._failed.add(i + 1)
                            self._serving_guard.notify_all()
                    quick = now - started < self.START_S
                    self._failures[i] = self._failures[i] + 1 if quick else 0
                    pause = min(self.MAX_PAUSE_S, 2.0 ** self._failures[i] - 1)
                    due[i] = now + pause
                    logger.warning("worker %d (pid %s) exited with %s; starting it again in %.0f s", i + 1,
                                   proc.pid if proc else "-", code, pause)
                if now >= due[i]:
                    due[i] = 0.0
                    self._procs[i] = self._spawn(i + 1)
        self._terminate()

    def _terminate(self, timeout_s: float = 10.0) -> None:
        running = [proc for proc, _ in self._procs if proc is not None]
        for proc in running:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + timeout_s
        for proc in running:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("worker pid %d did not stop in %.0f s; killing it", proc.pid, timeout_s)
                proc.kill()
                proc.wait()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        for fd in self._fds:
            os.close(fd)
