"""The chat page: ``/`` and its static files. The page holds no data; what it shows needs a key."""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

router = APIRouter()



def _static() -> Traversable:
    return resources.files("chat_ui").joinpath("static")


def static_files() -> StaticFiles:
    """Mounted at /static by create_app (a router cannot carry a mount)."""
    return StaticFiles(directory=str(_static()))


@router.get("/", include_in_schema=False)
def index() -> FileResponse:
    return FileResponse(str(_static().joinpath("index.html")))
