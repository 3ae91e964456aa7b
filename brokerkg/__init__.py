"""BrokerKG: knowledge graph and cited retrieval for Chinese insurance brokers."""

__version__ = "0.1.0"
