"""The FastAPI application: the app's state, middleware and routers over the stack's services.

The routes are in api/routes/ (one router per area), their dependencies in api/deps.py, what
every request goes through in api/middleware.py.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from api.alerts.service import attach, detach
from api.audit import AuditLog, AuditWriter
from api.errors import install_error_handlers
from api.middleware import install_middleware
from api.observability import Metrics, install_masking
from api.routes import admin, alerts, ask, compliance, documents, health, products, search, ui
from api.security import KeyStore, RateLimiter, SharedRateLimiter
from brokerkg import __version__
from brokerkg.shared import ShareClient
from brokerkg.stack import Stack
from domain.files import ProcessLock
from ingest.status_sync import FeedPoller

logger = logging.getLogger(__name__)


def create_app(
    stack: Stack, *, owns_stack: bool = False, rate_limit: tuple[float, int] | None = None, serving: bool = False,
    shared: ShareClient | None = None, process: int = 0,
) -> FastAPI:
    """``owns_stack``: open the stores on start-up and close them on shutdown; ``rate_limit``: (per
    minute, burst) instead of the settings'; ``serving``: ``brokerkg serve``'s app, which polls the
    status feeds (in the process owning the data dir) and hands pending alerts over at shutdown;
    ``shared``: a worker's line to that process (brokerkg/shared.py), whose rate limiter it uses;
    ``process``: which of ``brokerkg serve --workers N``'s processes this is (0: the owner), in each
    response's ``X-BrokerKG-Process`` header."""
    install_masking()
    app = FastAPI(title="BrokerKG", version=__version__, lifespan=_lifespan)
    install_error_handlers(app)
    per_minute, burst = rate_limit or (stack.settings.rate_limit_per_minute, stack.settings.rate_limit_burst)
    app.state.stack, app.state.owns_stack, app.state.serving = stack, owns_stack, serving
    app.state.worker, app.state.process = shared is not None, str(process)
    app.state.keys = KeyStore(stack.data_dir)
    app.state.audit = AuditLog(stack.data_dir)
    # one thread writes the audit records, in the order the responses start (api/middleware.py)
    app.state.audit_writer = AuditWriter(app.state.audit)
    app.state.limiter = SharedRateLimiter(shared) if shared else RateLimiter(per_minute, burst)
    app.state.metrics = Metrics(stack)
    # ingest, catalog imports and deletes run one at a time, in whichever process serves them
    app.state.write_lock = ProcessLock.at(stack.data_dir / "write.lock")
    # stop-sale alerts for every status change, whichever route made it (in a worker: made by the owner)
    app.state.alerts = attach(stack, relay=(lambda: shared.call("alerts", "wake")) if shared else None)
    if not app.state.keys.active():
        logger.warning("no API keys configured: only loopback clients are accepted (create one: brokerkg keys create --role broker)")
    install_middleware(app)
    for area in (health, ask, search, admin, products, documents, alerts, compliance, ui):
        app.include_router(area.router)
    app.mount("/static", ui.static_files(), name="static")
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    stack, owns = app.state.stack, app.state.owns_stack
    if owns:
        stack.open()
    # sync routes run in anyio's thread pool (40 threads by default): under load, 32 requests at
    # once contend for the GIL and all finish late; a few at a time, the rest queue in the loop
    anyio.to_thread.current_default_thread_limiter().total_tokens = stack.settings.request_threads
    serving = owns or app.state.serving
    poller = _status_poller(app) if serving and not app.state.worker else None
    if serving and not app.state.worker and stack.settings.optimize_quiet_s > 0:
        # writes through this server leave new vectors unindexed; optimized aside, not in this process
        stack.index.optimize_in_background(stack.settings.optimize_quiet_s)
    try:
        yield
    finally:
        # the records of the last responses are written before the stores close; a new writer
        # (its thread starts at its first record) serves the app if it is started again
        writer, app.state.audit_writer = app.state.audit_writer, AuditWriter(app.state.audit)
        writer.close()
        app.state.metrics.close()  # (its publishing thread, with several serving processes)
        if poller is not None:
            poller.stop()
        if serving:
            detach(stack, app.state.alerts, wait_s=5.0)  # what is still pending resumes at the next start
        if owns:
            stack.close()


def _status_poller(app: FastAPI) -> FeedPoller | None:
    """Poll the insurers' stop-sale lists (BROKERKG_STATUS_FEEDS) while the server runs."""
    stack = app.state.stack
    feeds = [f.strip() for f in stack.settings.status_feeds.split(",") if f.strip()]
    if not feeds:
        return None
    poller = FeedPoller(stack.graph, feeds, stack.data_dir / "status_feeds.json", stack.settings.status_poll_s,
                        lock=app.state.write_lock)
    poller.start()
    logger.info("polling %d status feed(s) every %.0f s", len(feeds), stack.settings.status_poll_s)
    return poller
