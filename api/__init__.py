"""FastAPI routes only: request/response models, thin handlers, one error shape."""
