"""Stop-sale alerts: the store, the service that makes them from the audit trail, webhook delivery."""
