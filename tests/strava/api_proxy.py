"""A real HTTP proxy in front of Airflow's API server: faults for the Airflow API store, over real HTTP.

The ``airflow_api`` connection points at the proxy instead of the API server (the seam every deployment
has: the connection's host). Rules, matched in order against each request, answer in the API server's
place (a status, or an HTML page) or hold the request until :meth:`ApiProxy.release` (then 503, never
forwarded): a task can be killed while its write is on the wire. Everything else is forwarded.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import requests

HTML_PAGE = "<!DOCTYPE html><html><body><h1>Welcome</h1><p>Sign in to continue.</p></body></html>"
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


@dataclass
class Rule:
    method: str
    path_prefix: str
    query: dict[str, str] = field(default_factory=dict)
    status: int | None = None  # answer with this status (JSON body) ...
    html: bool = False  # ... or with 200 and an HTML page ...
    hold: bool = False  # ... or hold the request until released
    skip: int = 0  # let this many matching requests through first
    hits: int = 0
    matched: threading.Event = field(default_factory=threading.Event)

    def matches(self, method: str, path: str, query: dict[str, str]) -> bool:
        wanted = method == self.method and path.startswith(self.path_prefix)
        return wanted and all(query.get(k) == v for k, v in self.query.items())


class ApiProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.rules: list[Rule] = []
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def release(self) -> None:
        """Answer every held request with 503 (their callers are usually gone) and stop holding."""
        with self._lock:
            self.rules = [r for r in self.rules if not r.hold]
        self._released.set()

    def _rule_for(self, method: str, path: str, query: dict[str, str]) -> Rule | None:
        with self._lock:
            self.seen.append((method, path, query))
            for rule in self.rules:
                if rule.matches(method, path, query):
                    rule.hits += 1
                    if rule.hits > rule.skip:
                        rule.matched.set()
                        return rule
        return None

    def __enter__(self) -> ApiProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def _handler(proxy: ApiProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # as the Strava stand-in's (devstack/strava_api.py) and for its reason

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            rule = proxy._rule_for(method, parts.path, query)
            if rule is not None and rule.hold:
                proxy._released.wait(timeout=300)
                self._reply(503, b'{"detail": "held by the test proxy"}', "application/json")
                return
            if rule is not None and rule.html:
                self._reply(200, HTML_PAGE.encode(), "text/html; charset=utf-8")
                return
            if rule is not None and rule.status is not None:
                self._reply(rule.status, b'{"detail": "refused by the test proxy"}', "application/json")
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP | {"host"}}
            answer = requests.request(
                method, proxy.upstream + self.path, data=body, headers=headers, timeout=60
            )
            self.send_response(answer.status_code)
            for key, value in answer.headers.items():
                if key.lower() not in _HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler
