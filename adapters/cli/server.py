"""Serving an ASGI app with uvicorn on a socket bound beforehand.

The socket is bound before anything else so that its port, even a free one
picked by the system (port 0), is known when the relying party's redirect
URI is configured. The server runs as a task of the caller's event loop,
which is how `serve`, `demo` and the tests share one implementation.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp

from loginledger.adapters.cli.errors import CliError

# How often startup is checked; uvicorn has a flag, not an event.
_STARTUP_POLL = 0.01


@dataclass(frozen=True)
class Served:
    """A running server, and the task that ends when it has stopped."""

    server: uvicorn.Server
    stopped: asyncio.Task[None]


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host`:`port` (0: a free port).

    Raises:
        CliError: the address cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen()
    except OSError as error:
        sock.close()
        msg = f"cannot listen on {host}:{port}: {error.strerror}; choose another --port"
        raise CliError(msg) from None
    return sock


def base_url(sock: socket.socket) -> str:
    """The http:// URL of the bound socket."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


@asynccontextmanager
async def uvicorn_serving(app: ASGIApp, sock: socket.socket) -> AsyncIterator[Served]:
    """Serve `app` on `sock` until the block ends; then stop and close it.

    The access log stays off: a callback's request line holds its code.
    """
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="loginledger-http")
    try:
        while not server.started:
            if task.done():
                task.result()
                msg = "the HTTP server stopped while starting"
                raise CliError(msg)
            await asyncio.sleep(_STARTUP_POLL)
        yield Served(server, task)
    finally:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)
        sock.close()
