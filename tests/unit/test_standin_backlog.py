"""The model stand-ins listen with the backlog a real server asks for, so a burst of new connections is
queued for accept() instead of having its SYNs dropped (resent by the client a second later).

Go's net.Listen (Ollama) asks for net.core.somaxconn; socketserver asks for 5, and at the start of a
benchmark burst the service's 16 workers connecting at once turned one model call into 1.1 s and stopped
the whole service for 0.75 s behind it (docs/BENCHMARKS.md, docs/guarantees.md)."""

from __future__ import annotations

import errno
import socket
import time
from http.server import BaseHTTPRequestHandler

from testkit.fakes.ollama_http import _Server

CONNECTIONS = 32


def queued_connections(server: _Server, count: int, wait_s: float = 0.5) -> int:
    """Open `count` connections to a server that is not accepting; how many the kernel completed."""
    host, port = server.server_address[:2]
    clients = []
    try:
        for _ in range(count):
            client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            client.setblocking(False)
            code = client.connect_ex((host, port))
            assert code in (0, errno.EINPROGRESS), code
            clients.append(client)
        time.sleep(wait_s)
        established = 0
        for client in clients:
            try:
                client.getpeername()  # a dropped SYN leaves the socket connecting: no peer yet
                established += client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
            except OSError:
                pass
        return established
    finally:
        for client in clients:
            client.close()


def test_a_burst_of_connections_waits_in_the_backlog_instead_of_being_dropped() -> None:
    server = _Server(("127.0.0.1", 0), BaseHTTPRequestHandler)  # bound and listening; nobody accepts
    try:
        assert queued_connections(server, CONNECTIONS) == CONNECTIONS
    finally:
        server.server_close()
