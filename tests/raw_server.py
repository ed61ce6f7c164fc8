"""A TCP server for client tests that need answers no emulator gives: raw bytes,
connections closed at chosen points. Subclasses say what to do with each connection."""

from __future__ import annotations

import socket
import threading


class RawServer:
    """Accepts connections on 127.0.0.1, one at a time, on a daemon thread; each goes to
    :meth:`serve_connection` and is closed after it. :attr:`connections` counts them."""

    def __init__(self) -> None:
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def serve_connection(self, client: socket.socket) -> None:
        """Read from and answer one connection (closed on return)."""
        raise NotImplementedError

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return   # closed
            self.connections += 1
            with client:
                client.settimeout(10)
                try:
                    self.serve_connection(client)
                except OSError:   # the client hung up first: the tests are about its side
                    pass
            self.hung_up()

    def hung_up(self) -> None:
        """Called after each connection is closed (a hook for tests that wait for it)."""

    def close(self) -> None:
        """Stop accepting."""
        self._listener.close()
