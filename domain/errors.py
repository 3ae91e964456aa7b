"""One root exception; foreign errors are translated into these at the edges.

The API maps each class to an HTTP status and the contract's error shape
(``{"error": {"code", "message"}}``); the CLI prints the message and exits 1.
"""

from __future__ import annotations


class BrokerKGError(Exception):
    """Root of every error BrokerKG raises on purpose."""

    code = "internal_error"
    status = 500


class InputError(BrokerKGError):
    """The caller sent something we cannot use; the message says what and how to fix it."""

    code = "bad_request"
    status = 400


class NotFoundError(BrokerKGError):
    code = "not_found"
    status = 404


class UnsupportedFileError(InputError):
    code = "unsupported_file"
    status = 415


class DocumentError(InputError):
    """A document could not be read or parsed."""

    code = "unreadable_document"
    status = 422


class ConflictError(BrokerKGError):
    """The write contradicts what is stored (e.g. a uniqueness constraint)."""

    code = "conflict"
    status = 409


class ConfigError(BrokerKGError):
    """Settings are wrong; raised at start-up with a message saying how to fix them."""

    code = "config_error"


class DependencyError(BrokerKGError):
    """A store (graph server, vector index) is unavailable or failed."""

    code = "dependency_unavailable"
    status = 503


class DataDirBusyError(BrokerKGError):
    """Another BrokerKG process owns this data dir."""

    code = "data_dir_busy"
    status = 409
