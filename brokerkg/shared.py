"""More than one serving process per data dir: one owner, N-1 workers, one listening socket.

The embedded vector shard (Qdrant Edge) opens in one process only. ``brokerkg serve --workers N``
keeps it there: the owner opens the stores as a single server does and shares, over a Unix
socket in the data dir (``share.sock``, mode 0600), what must be one per data dir:

- the vector index (queries and writes; a worker embeds its own texts, only vectors travel);
- the conversations, so a follow-up may land on any process;
- the rate limiter, so a key's limit is the same whichever process takes its requests;
- the bundled graph server's recovery: a worker that loses its connection asks the owner, which
  starts the server again if it is down (never two on one data dir) and says where it listens.

Workers reach the bundled graph server directly (it serves many clients), and take the data
dir's write lock (``write.lock``, an flock) for ingest, catalog imports and deletes, as the
owner does. A write in one process bumps the data dir's generation (``generation``); the others
see it before their next product lookup and reload their name lists. The audit log and the
alert store were already safe across processes (flock, append-only).

Crash safety is unchanged: each write still goes graph first, then index, with the same
two-phase marks; the index only ever changes inside the owner, under its own lock. Workers die
with the owner (parent-death signal), the owner stops them on SIGTERM or SIGINT and starts
again one that exits while it serves.

The protocol is pickled tuples behind a 4-byte length, on a socket only this user can open
(the data dir's owner); nothing here listens on the network.
"""

from __future__ import annotations

import fcntl
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from domain.errors import BrokerKGError, DependencyError
from retrieval.conversation import Conversation, ConversationStore, Turn

logger = logging.getLogger(__name__)

SOCKET_NAME = "share.sock"

# What a worker may call on each shared object; methods that return iterators are sent as lists.
ALLOWED: dict[str, frozenset[str]] = {
    "index": frozenset({
        "upsert", "set_payload", "delete", "hybrid", "document_frequency", "dense_similarity", "retrieve", "count",
        "all_ids", "payloads", "points", "export", "optimize", "writes",
    }),
    "conversations": frozenset({"get", "add_to"}),
    "limiter": frozenset({"retry_after"}),
    "graph": frozenset({"recover_graph"}),
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

    def __init__(self, client: ShareClient, dim: int) -> None:
        self._client = client
        self.dim = dim

    def __getattr__(self, method: str) -> Any:
        if method not in ALLOWED["index"] or method in _ITERATORS or method == "writes":
            raise AttributeError(method)
        return lambda *args, **kwargs: self._client.call("index", method, *args, **kwargs)

    @property
    def writes(self) -> int:
        """The owner's count of writes: readers' caches of what the index holds start over when it moves."""
        return int(self._client.call("index", "writes"))

    def payloads(self, *args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        return iter(self._client.call("index", "payloads", *args, **kwargs))

    def points(self, *args: Any, **kwargs: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        return iter(self._client.call("index", "points", *args, **kwargs))

    def export(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        return iter(self._client.call("index", "export", *args, **kwargs))

    def close(self) -> None:
        self._client.close()


class RemoteConversations(ConversationStore):
    """The owner's conversations, seen from a worker."""

    def __init__(self, client: ShareClient) -> None:
        super().__init__()
        self._client = client

    def get(self, conversation_id: str | None) -> Conversation:
        conv: Conversation = self._client.call("conversations", "get", conversation_id)
        return conv

    def add(self, conv: Conversation, turn: Turn) -> None:
        self._client.call("conversations", "add_to", conv.id, turn)
        conv.turns.append(turn)


class ProcessLock:
    """A lock for threads and processes alike (an flock on ``path`` while held): ``with lock:``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread_lock = threading.Lock()
        self._fd: int | None = None

    def __enter__(self) -> ProcessLock:
        self._thread_lock.acquire()
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # another process's write waits here
            except BaseException:
                os.close(fd)
                raise
        except BaseException:
            self._thread_lock.release()
            raise
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        fd, self._fd = self._fd, None
        try:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
        finally:
            self._thread_lock.release()


WORKER_ENV = "BROKERKG_WORKER_OF"  # set by the owner for its workers only (not a setting)


class Workers:
    """The N-1 worker processes of ``brokerkg serve --workers N``, all accepting on the owner's
    listening socket. One that exits while the owner serves is started again (not when it keeps
    failing at start); all are stopped, SIGTERM then SIGKILL, when the owner stops, and die with it
    if it is killed (parent-death signal)."""

    RESTARTS = 5  # a worker that exits this many times in a row within START_S of its start stays down
    START_S = 30.0

    def __init__(self, count: int, listener: socket.socket, share_socket: Path, graph: tuple[int, str] | None) -> None:
        self.count = count
        self._fd = listener.fileno()
        self._attach = {"fd": self._fd, "share": str(share_socket),
                        "graph_port": graph[0] if graph else None, "graph_password": graph[1] if graph else ""}
        self._procs: list[tuple[subprocess.Popen[bytes], float]] = []
        self._failures = 0
        self._down: set[int] = set()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="workers", daemon=True)

    def start(self) -> Workers:
        self._thread.start()
        self._ready.wait(30)
        return self

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc, _ in self._procs]

    def _spawn(self, number: int) -> tuple[subprocess.Popen[bytes], float]:
        from graph.falkor import die_with_parent

        env = {**os.environ, WORKER_ENV: json.dumps({**self._attach, "process": number})}
        proc = subprocess.Popen(
            [sys.executable, "-m", "brokerkg.cli", "serve"], env=env, pass_fds=(self._fd,),
            start_new_session=True,  # a terminal's Ctrl-C reaches the owner, which stops the workers
            preexec_fn=die_with_parent(),  # tied to this thread, which lives until stop()
        )
        return proc, time.monotonic()

    def _supervise(self) -> None:
        """Runs on one thread for the pool's life: the parent-death signal is tied to the thread that forks."""
        self._procs = [self._spawn(i + 1) for i in range(self.count)]
        self._ready.set()
        while not self._stop.wait(0.5):
            for i, (proc, started) in enumerate(self._procs):
                code = proc.poll()
                if code is None or i in self._down or self._stop.is_set():
                    continue
                quick = time.monotonic() - started < self.START_S
                self._failures = self._failures + 1 if quick else 0
                if self._failures >= self.RESTARTS:
                    logger.error("worker pid %d exited with %s; %d quick exits in a row, not starting it again",
                                 proc.pid, code, self._failures)
                    self._down.add(i)
                    continue
                logger.warning("worker pid %d exited with %s; starting it again", proc.pid, code)
                self._procs[i] = self._spawn(i + 1)
        self._terminate()

    def _terminate(self, timeout_s: float = 10.0) -> None:
        for proc, _ in self._procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + timeout_s
        for proc, _ in self._procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("worker pid %d did not stop in %.0f s; killing it", proc.pid, timeout_s)
                proc.kill()
                proc.wait()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
