"""A real Uvicorn server in a background thread on a free port (API and browser tests)."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import uvicorn
from fastapi import FastAPI

PASSWORD = "correct horse battery"  # tests/helpers.py Clinic's password
Login = Callable[[str], dict[str, str]]


class LiveServer:
    """Run ``app`` on Uvicorn until the context exits."""

    def __init__(self, app: FastAPI) -> None:
        # Port 0: the kernel picks a free port, read back once the server listens. (Uvicorn
        # binds and closes the socket itself; a socket passed in leaks under uvloop.)
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            lifespan="on",
            log_level="warning",
            ws="none",
            access_log=False,
            proxy_headers=False,  # like `microtrial serve`: the app reads X-Forwarded-* itself
            loop="auto",
        )
        self.server = uvicorn.Server(config)
        self.port = 0
        self._thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=15)


def sqlite_copy(template: Path, directory: Path) -> str:
    """The URL of a fresh copy of the migrated SQLite template (for backend-neutral tests)."""
    path = directory / "api.db"
    shutil.copy(template, path)
    return f"sqlite:///{path}"
