"""Local AWS for the embedded stack: one HTTP endpoint serving moto, with Athena that runs SQL.

moto serves S3, Glue, SNS, SQS, Secrets Manager and STS. Its own Athena answers every query with
SUCCEEDED and no rows, so Athena's query calls (``X-Amz-Target: AmazonAthena.*``) are routed to
:class:`devstack.athena.LocalAthena`, which executes them for real against this same endpoint's S3 and
Glue. Calls that ``LocalAthena`` does not serve itself (work groups, data catalogs, ...) fall through
to moto. The DAGs never know: they talk to one ``endpoint_url``, as they would talk to AWS.

Run it as a process (``python -m devstack.aws --port 0``): it prints ``ready <url>`` on stdout once it
accepts connections, and stops cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from devstack.credentials import REGION, client_environment
from devstack.processes import announce_ready
from devstack.serving import ThreadedServer

log = logging.getLogger(__name__)

ATHENA_TARGET_PREFIX = "AmazonAthena."


class _AthenaRouter:
    """WSGI middleware: Athena calls to LocalAthena, everything else (and what it declines) to moto."""

    def __init__(self, moto_app: DomainDispatcherApplication) -> None:
        self.moto_app = moto_app
        self.athena: Any = None  # set once the server knows its own URL

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if self.athena is None or not target.startswith(ATHENA_TARGET_PREFIX):
            return self.moto_app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        action = target[len(ATHENA_TARGET_PREFIX) :]
        params = json.loads(raw or b"{}")
        answer = self.athena.handle(action, params)
        if answer is None:  # not ours: replay the request to moto with the body we consumed
            import io

            environ["wsgi.input"] = io.BytesIO(raw)
            return self.moto_app(environ, start_response)
        status, body = answer
        payload = json.dumps(body, default=str).encode()
        reason = {200: "OK", 400: "Bad Request", 500: "Internal Server Error"}.get(status, "Error")
        start_response(
            f"{status} {reason}",
            [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(payload)))],
        )
        return [payload]


class LocalAws(ThreadedServer):
    """The local AWS endpoint, served from a thread of the current process.

    >>> with LocalAws() as aws:  # doctest: +SKIP
    ...     boto3.client("s3", endpoint_url=aws.endpoint_url).list_buckets()
    """

    thread_name = "local-aws"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, athena: bool = True) -> None:
        self.host = host
        self.port = port
        self.with_athena = athena
        self._router = _AthenaRouter(DomainDispatcherApplication(create_backend_app))

    @property
    def endpoint_url(self) -> str:
        return self.url

    def build_server(self) -> BaseWSGIServer:
        return make_server(
            self.host, self.port, self._router, threaded=True, request_handler=MotoRequestHandler
        )

    def start(self) -> str:
        super().start()
        if self.with_athena:
            from devstack.athena import LocalAthena

            self._router.athena = LocalAthena(endpoint_url=self.endpoint_url, region=REGION, in_process=True)
        return self.endpoint_url

    def stop(self) -> None:
        if self._router.athena is not None:
            self._router.athena.close()
            self._router.athena = None
        super().stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s local-aws %(levelname)s %(message)s")
    for key, value in client_environment("").items():
        if key != "AWS_ENDPOINT_URL":
            os.environ.setdefault(key, value)
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    aws = LocalAws(args.host, args.port)
    url = aws.start()
    announce_ready(url)
    stopped.wait()
    aws.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
