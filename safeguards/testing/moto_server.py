"""moto's Route 53 and DynamoDB as a real HTTP endpoint for tests (boto3 talks to it as to AWS)."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any


def _serialized_server_class() -> Any:
    from moto.server import ThreadedMotoServer

    class SerializedMotoServer(ThreadedMotoServer):
        """Request dispatch under one lock: moto's DynamoDB writes are then atomic, as on AWS
        (unlocked, 8x100 racing increments gave 800 distinct values)."""

        def _server_entry(self) -> None:
            from moto.moto_server.werkzeug_app import (
                DomainDispatcherApplication,
                MotoRequestHandler,
                create_backend_app,
            )
            from werkzeug.serving import make_server

            app = DomainDispatcherApplication(create_backend_app)
            lock = threading.Lock()

            def serialized(environ: dict[str, Any], start_response: Any) -> Any:
                with lock:
                    return list(app(environ, start_response))

            self._server = make_server(
                self._ip_address, self._port, serialized, True, request_handler=MotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    return SerializedMotoServer


@contextlib.contextmanager
def moto_server(*, serialized: bool = False) -> Iterator[str]:
    """Run a moto server on a free local port; yields its endpoint URL. `serialized` handles one
    request at a time (needed for races on DynamoDB conditional writes)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    cls = _serialized_server_class() if serialized else ThreadedMotoServer
    server = cls(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
