"""One router per area of the HTTP API; ``create_app`` includes them all."""
