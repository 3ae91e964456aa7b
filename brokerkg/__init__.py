"""BrokerKG: knowledge graph and cited retrieval for Chinese insurance brokers.

This package is the composition root (settings, the stack of stores and services, doctor)
and the command line; the version is pyproject.toml's, read from the installed metadata.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("brokerkg")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
