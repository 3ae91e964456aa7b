"""API keys with roles, who may call what, per-key rate limits.

Keys look like ``bkg_<id>_<secret>``; only a SHA-256 of the secret is stored (in
``<data_dir>/security/keys.json``, mode 0600), so a leaked file does not leak keys. The file
is re-read when it changes: ``brokerkg keys create|revoke`` take effect on a running server.

With no key configured the server accepts loopback clients only (as ``admin``) and says so
at start-up; any other client gets 403. With keys, a request needs ``Authorization: Bearer
<key>`` (or ``X-API-Key``): missing or unknown → 401, role not allowed → 403.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from domain.errors import BrokerKGError, InputError, NotFoundError
from domain.files import replace_atomically

ROLES = ("broker", "cs_bot", "compliance", "admin", "monitor")
READERS = frozenset({"broker", "cs_bot", "compliance", "admin"})
# What each role may do; the routes name their permission.
PERMISSIONS: dict[str, frozenset[str]] = {
    "ask": READERS,
    "search": READERS,
    "products.read": READERS,
    "documents.read": READERS,
    "products.write": frozenset({"admin"}),
    "documents.write": frozenset({"admin"}),
    "ingest": frozenset({"admin"}),
    "audit.read": frozenset({"compliance", "admin"}),
    "alerts.read": READERS,  # one's own stop-sale alerts
    "alerts.all": frozenset({"compliance", "admin"}),  # everyone's, with their delivery state
    # compliance check of sales texts; its rules: read by whoever checks, edited by compliance staff
    "compliance.check": frozenset({"broker", "compliance", "admin"}),
    "compliance.rules.write": frozenset({"compliance", "admin"}),
    # Prometheus scrapes with a monitor key: figures only, no content
    "metrics": frozenset({"monitor", "admin"}),
}


class UnauthorizedError(BrokerKGError):
    status = 401
    code = "unauthorized"


class ForbiddenError(BrokerKGError):
    status = 403
    code = "forbidden"


class RateLimitedError(BrokerKGError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Principal:
    key_id: str
    role: str
    name: str = ""

    @property
    def audiences(self) -> tuple[str, ...]:
        """What this caller may see: customer-service bots see public documents only."""
        return ("public",) if self.role == "cs_bot" else ()


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("testclient", "localhost")


class KeyStore:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "security" / "keys.json"
        self._lock = threading.Lock()
        self._cache: tuple[float, dict[str, dict[str, Any]]] = (-1.0, {})

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return {}
        with self._lock:
            if mtime != self._cache[0]:
                self._cache = (mtime, json.loads(self.path.read_text(encoding="utf-8")))
            return self._cache[1]

    def _write(self, keys: dict[str, dict[str, Any]]) -> None:
        replace_atomically(self.path, json.dumps(keys, ensure_ascii=False, indent=1), mode=0o600)

    def active(self) -> bool:
        return any(not k.get("revoked_at") for k in self._read().values())

    def create(self, role: str, name: str = "", owner: str | None = None) -> tuple[str, dict[str, Any]]:
        """``owner``: for a cs_bot key, the key id of the broker it answers for; that broker gets the
        stop-sale alerts for what the bot told its customers (a bot's customers are not brokers)."""
        if role not in ROLES:
            raise InputError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        keys = dict(self._read())
        if owner:
            if role != "cs_bot":
                raise InputError(f"owner: only a cs_bot key has an owner, not a {role} key")
            owner_key = keys.get(owner)
            if owner_key is None or owner_key.get("revoked_at") or owner_key.get("role") in ("cs_bot", "monitor"):
                raise InputError(f"owner: '{owner}' is not the id of an active broker, compliance or admin key")
        key_id = secrets.token_hex(4)
        secret = secrets.token_urlsafe(24)
        record = {"key_id": key_id, "role": role, "name": name, "hash": _hash(secret),
                  "created_at": datetime.now(UTC).isoformat(timespec="seconds"), "revoked_at": None}
        if owner:
            record["owner"] = owner
        keys[key_id] = record
        self._write(keys)
        return f"bkg_{key_id}_{secret}", {k: v for k, v in record.items() if k != "hash"}

    def list(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k != "hash"} for r in self._read().values()]

    def revoke(self, key_id: str) -> dict[str, Any]:
        keys = dict(self._read())
        if key_id not in keys:
            raise NotFoundError(f"unknown key id '{key_id}'")
        keys[key_id] = {**keys[key_id], "revoked_at": datetime.now(UTC).isoformat(timespec="seconds")}
        self._write(keys)
        return {k: v for k, v in keys[key_id].items() if k != "hash"}

    def owner_of(self, key_id: str) -> str | None:
        """Who gets a key's alerts: its owner for a cs_bot key (None when it has none), else the key itself."""
        record = self._read().get(key_id)
        if record is None or record.get("role") != "cs_bot":
            return key_id
        return record.get("owner") or None

    def authenticate(self, token: str) -> Principal:
        parts = token.strip().split("_", 2)
        if len(parts) != 3 or parts[0] != "bkg":
            raise UnauthorizedError("the API key is malformed (expected bkg_<id>_<secret>)")
        record = self._read().get(parts[1])
        if record is None or not hmac.compare_digest(record["hash"], _hash(parts[2])):
            raise UnauthorizedError("unknown API key")
        if record.get("revoked_at"):
            raise UnauthorizedError(f"API key {parts[1]} was revoked")
        return Principal(record["key_id"], record["role"], record.get("name", ""))


def principal_for(keys: KeyStore, headers: Any, client_host: str) -> Principal:
    """Who is calling, from the request's headers and address; raises 401/403 errors."""
    token = headers.get("x-api-key") or ""
    auth = headers.get("authorization") or ""
    if auth.lower().startswith("bearer "):
        token = auth[7:]
    if not keys.active():
        # Loopback-only mode: a key sent anyway (OpenAI clients always send one) is ignored.
        if not is_loopback(client_host):
            raise ForbiddenError("no API keys are configured: this server only accepts loopback clients (brokerkg keys create)")
        return Principal("local", "admin", "loopback")
    if not token:
        raise UnauthorizedError("an API key is required: Authorization: Bearer <key>")
    return keys.authenticate(token)


def check(principal: Principal, permission: str) -> None:
    if principal.role not in PERMISSIONS[permission]:
        raise ForbiddenError(f"role '{principal.role}' may not {permission.replace('.', ' ')}")


class RateLimiter:
    """Token bucket per key: ``per_minute`` sustained, ``burst`` at once."""

    def __init__(self, per_minute: float, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> None:
        """One request of ``key``; RateLimitedError (429) when its bucket is empty."""
        retry = self.retry_after(key)
        if retry is not None:
            raise RateLimitedError(f"rate limit reached for key '{key}': retry in {retry} s", retry)

    def retry_after(self, key: str) -> int | None:
        """Take a token for ``key``: None, or the seconds to wait when there is none."""
        if self.rate <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return max(1, int((1.0 - tokens) / self.rate + 0.999))
            self._buckets[key] = (tokens - 1.0, now)
            return None


class SharedRateLimiter(RateLimiter):
    """The rate limiter of the process owning the data dir, used by a worker (brokerkg/shared.py):
    a key's limit is the same whichever process takes its requests."""

    def __init__(self, client: Any) -> None:
        super().__init__(0.0, 0)
        self._client = client

    def retry_after(self, key: str) -> int | None:
        retry: int | None = self._client.call("limiter", "retry_after", key)
        return retry
