"""The static chat page served at ``/``."""
