"""A local stand-in of the Dataquest Teams API, for tests, ``demo`` and benchmarks.

``Sandbox`` serves ``/api/team-reports/<team_id>/<endpoint>`` on 127.0.0.1
like the real API (see ``reference/dataquest-teams-api.md``):

- ``API-Key`` auth with DRF's 401 bodies (``"Authentication credentials were
  not provided."`` / ``"Incorrect authentication credentials."``); another
  team id: 404 ``{"detail":"Not found."}``; an unknown path: Django's HTML 404;
- DRF's sliding-window throttle exactly: ``rate_per_minute`` requests per key
  in any 60 s of the injected clock, then 429 with ``Retry-After: ceil(wait)``
  and ``{"detail":"Request was throttled. Expected available in N seconds."}``;
- ``start_date``/``end_date`` validated as DD/MM/YYYY (400 with a ``detail``
  otherwise). They do not filter the data: what the real API filters on is
  not known;
- compact JSON (``separators=(",", ":")``, UTF-8, accents as they are).

The data comes from ``sync.sandbox_data.World``: deterministic from (seed,
learners, epoch). With ``auto_advance`` the epoch moves on by one when an
endpoint already served in the current epoch is asked again, so one sync of
the four endpoints sees one consistent epoch and the next sync the next one.

``inject`` queues faults (5xx pages, truncated or wrong JSON, delays that
trigger client timeouts, dropped connections) answered before auth, the way a
proxy in front of the API would. ``requests`` logs every request (path,
params, status), never the key. ``serve`` runs a sandbox in the foreground for
the ``dq-sheets-sync sandbox`` command.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO
from urllib.parse import parse_qsl, urlsplit

from sync.sandbox_data import ENDPOINT_BUILDERS, World

log = logging.getLogger(__name__)

PREFIX = "/api/team-reports/"
ENDPOINTS = tuple(ENDPOINT_BUILDERS)
ALL = "all"
THROTTLE_WINDOW = 60.0

NOT_PROVIDED = "Authentication credentials were not provided."
INCORRECT = "Incorrect authentication credentials."
DJANGO_404 = (
    '<!doctype html>\n<html lang="en">\n<head>\n  <title>Not Found</title>\n</head>\n<body>\n'
    "  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n"
    "</body>\n</html>\n"
)
_PATH_RE = re.compile(r"^/api/team-reports/([^/]+)/([^/]+)$")
_DATE_RE = re.compile(r"^\d{2}/\d{2}/\d{4}$")


def dumps(data: Any) -> bytes:
    """JSON the way DRF renders it: compact, UTF-8, non-ASCII kept."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def throttled_detail(wait: float | None) -> str:
    """DRF's ``Throttled`` message for a wait in seconds."""
    if wait is None:
        return "Request was throttled."
    n = math.ceil(wait)
    unit = "second" if n == 1 else "seconds"
    return f"Request was throttled. Expected available in {n} {unit}."


@dataclass
class Fault:
    """An injected answer for the next ``count`` matching requests."""

    status: int = 500
    count: int = 1
    endpoint: str | None = None
    body: str | None = None
    content_type: str = "application/json"
    delay: float = 0.0
    drop: bool = False
    retry_after: int | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def matches(self, endpoint: str | None) -> bool:
        return self.count > 0 and (self.endpoint is None or self.endpoint == endpoint)

    def payload(self) -> bytes:
        if self.body is not None:
            return self.body.encode("utf-8")
        if self.status == 429:
            return dumps({"detail": throttled_detail(self.retry_after)})
        phrase = _phrase(self.status)
        if self.content_type.startswith("text/html"):
            if self.status in (502, 503, 504):
                return (
                    f"<html>\r\n<head><title>{self.status} {phrase}</title></head>\r\n<body>\r\n"
                    f"<center><h1>{self.status} {phrase}</h1></center>\r\n<hr><center>nginx"
                    "</center>\r\n</body>\r\n</html>\r\n"
                ).encode()
            title = f"{phrase} ({self.status})"
            return (
                f'<!doctype html>\n<html lang="en">\n<head>\n  <title>{title}</title>\n'
                f"</head>\n<body>\n  <h1>{title}</h1><p></p>\n</body>\n</html>\n"
            ).encode()
        return dumps({"detail": phrase})


@dataclass(frozen=True)
class RequestRecord:
    """One request as the sandbox saw it (never the key)."""

    method: str
    path: str
    params: dict[str, str]
    status: int | None  # None: the connection was dropped
    at: float  # on the sandbox's clock
    endpoint: str | None = None
    epoch: int | None = None  # the data's epoch, for answers with data


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class Sandbox:
    """A local Teams API. ``with Sandbox() as sb: requests.get(sb.url + ...)``."""

    def __init__(
        self,
        *,
        learners: int = 40,
        seed: int = 1,
        epoch: int = 0,
        auto_advance: bool = True,
        api_key: str | None = None,
        team_id: str = "12345",
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        rate_per_minute: int = 10,
    ) -> None:
        self.seed = seed
        self.auto_advance = auto_advance
        self.api_key = api_key if api_key is not None else secrets.token_hex(20)
        self.team_id = str(team_id)
        self.host = host
        self.port = port
        self.clock = clock
        self.rate_per_minute = rate_per_minute
        self.requests: list[RequestRecord] = []
        self._world = World(seed, learners)
        self._epoch = epoch
        self._served: set[str] = set()
        self._history: dict[str, list[float]] = {}  # per key, newest first (DRF's order)
        self._faults: list[Fault] = []
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        where = self.url if self._server else "not started"
        return f"Sandbox({where}, team_id={self.team_id!r}, epoch={self._epoch})"

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> Sandbox:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server((self.host, self.port), _Handler, self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"dq-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        log.debug("Sandbox listening on %s", self.url)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        log.debug("Sandbox on port %s stopped", self.port)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL for ``DataquestConfig.base_url`` (ends with '/')."""
        if not self.port:
            raise RuntimeError("the sandbox has no port yet: call start() first")
        return f"http://{self.host}:{self.port}{PREFIX}"

    # --- data ---------------------------------------------------------------------

    @property
    def epoch(self) -> int:
        return self._epoch

    @epoch.setter
    def epoch(self, value: int) -> None:
        with self._lock:
            self._epoch = value
            self._served.clear()

    @property
    def learners(self) -> int:
        return self._world.learners

    @learners.setter
    def learners(self, value: int) -> None:
        with self._lock:
            self._world = World(self.seed, value)

    def advance(self, steps: int = 1) -> None:
        """Move the data ``steps`` days forward."""
        with self._lock:
            self._epoch += steps
            self._served.clear()

    def records(self, endpoint: str) -> list[dict[str, Any]]:
        """What ``endpoint`` answers now (without advancing the epoch)."""
        with self._lock:
            return self._world.records(endpoint, self._epoch)

    def all_records(self) -> dict[str, list[dict[str, Any]]]:
        """What ``all`` answers now (without advancing the epoch)."""
        with self._lock:
            return {e: self._world.records(e, self._epoch) for e in ENDPOINTS}

    # --- faults and the log ---------------------------------------------------------

    def inject(
        self,
        status: int = 500,
        *,
        count: int = 1,
        endpoint: str | None = None,
        body: str | None = None,
        content_type: str = "application/json",
        delay: float = 0.0,
        drop: bool = False,
        retry_after: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next ``count`` requests (of ``endpoint``, or any) with a fault.

        ``body`` None gives a default body (DRF JSON, or an nginx/Django HTML
        page when ``content_type`` is text/html); ``delay`` waits real seconds
        before answering (client timeouts); ``drop`` closes the connection
        without an answer; ``headers`` are added (e.g. a ``Location``). Faults
        queue in order.
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._faults.append(
                Fault(
                    status,
                    count,
                    endpoint,
                    body,
                    content_type,
                    delay,
                    drop,
                    retry_after,
                    dict(headers or {}),
                )
            )

    def statuses(self) -> list[int | None]:
        """The status of every request so far, in order."""
        with self._lock:
            return [r.status for r in self.requests]

    # --- answering ------------------------------------------------------------------

    def respond(self, method: str, target: str, headers: Any) -> _Reply:
        """The reply to one request (``headers`` has ``.get``). Used by the HTTP handler."""
        split = urlsplit(target)
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        match = _PATH_RE.match(split.path)
        endpoint = match.group(2) if match else None
        with self._lock:
            now = self.clock()
            reply, epoch = self._answer(method, match, params, headers, now)
            logged = {k: ("[API key]" if v == self.api_key else v) for k, v in params.items()}
            self.requests.append(
                RequestRecord(
                    method=method,
                    path=split.path,
                    params=logged,
                    status=None if reply.drop else reply.status,
                    at=now,
                    endpoint=endpoint,
                    epoch=epoch,
                )
            )
        return reply

    def _answer(
        self,
        method: str,
        match: re.Match[str] | None,
        params: dict[str, str],
        headers: Any,
        now: float,
    ) -> tuple[_Reply, int | None]:
        endpoint = match.group(2) if match else None
        # a proxy in front of the API answers first
        for fault in self._faults:
            if fault.matches(endpoint):
                fault.count -= 1
                self._faults = [f for f in self._faults if f.count > 0]
                extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
                extra.update(fault.headers)
                reply = _Reply(fault.status, fault.payload(), fault.content_type, extra)
                reply.delay, reply.drop = fault.delay, fault.drop
                return reply, None
        # Django's URL resolver: unknown paths never reach the view
        if match is None or endpoint not in (*ENDPOINTS, ALL):
            return _Reply(404, DJANGO_404.encode(), "text/html; charset=utf-8"), None
        # DRF: authentication, then permissions, then throttling, then the view
        key = headers.get("API-Key")
        if not key:
            return _detail(401, NOT_PROVIDED, {"WWW-Authenticate": "API-Key"}), None
        if not secrets.compare_digest(key.encode(), self.api_key.encode()):
            return _detail(401, INCORRECT, {"WWW-Authenticate": "API-Key"}), None
        if not self._allow(key, now):
            wait = self._wait(key, now)
            extra = {"Retry-After": f"{math.ceil(wait):d}"} if wait else {}
            return _detail(429, throttled_detail(wait), extra), None
        if method not in ("GET", "HEAD"):
            return _detail(405, f'Method "{method}" not allowed.'), None
        if match.group(1) != self.team_id:
            return _detail(404, "Not found."), None
        problem = _check_dates(params)
        if problem:
            return _detail(400, problem), None
        return self._serve(endpoint), self._epoch

    def _allow(self, key: str, now: float) -> bool:
        """DRF's ``SimpleRateThrottle.allow_request``."""
        history = self._history.setdefault(key, [])
        while history and history[-1] <= now - THROTTLE_WINDOW:
            history.pop()
        if len(history) >= self.rate_per_minute:
            return False
        history.insert(0, now)
        return True

    def _wait(self, key: str, now: float) -> float | None:
        """DRF's ``SimpleRateThrottle.wait``."""
        history = self._history.get(key, [])
        remaining = THROTTLE_WINDOW - (now - history[-1]) if history else THROTTLE_WINDOW
        available = self.rate_per_minute - len(history) + 1
        if available <= 0:
            return None
        return remaining / float(available)

    def _serve(self, endpoint: str) -> _Reply:
        asked = set(ENDPOINTS) if endpoint == ALL else {endpoint}
        if self.auto_advance and asked & self._served:
            self._epoch += 1
            self._served.clear()
            log.debug("Sandbox data moved on to epoch %d", self._epoch)
        self._served |= asked
        if endpoint == ALL:
            data: Any = {e: self._world.records(e, self._epoch) for e in ENDPOINTS}
        else:
            data = self._world.records(endpoint, self._epoch)
        return _Reply(200, dumps(data), headers={"Vary": "Accept", "Allow": "GET, HEAD, OPTIONS"})


def _detail(status: int, detail: str, headers: dict[str, str] | None = None) -> _Reply:
    base = {"Vary": "Accept", "Allow": "GET, HEAD, OPTIONS"}
    return _Reply(status, dumps({"detail": detail}), headers={**base, **(headers or {})})


def _check_dates(params: dict[str, str]) -> str | None:
    parsed = {}
    for name in ("start_date", "end_date"):
        if name not in params:
            continue
        value = params[name]
        try:
            if not _DATE_RE.match(value):
                raise ValueError(value)
            parsed[name] = datetime.strptime(value, "%d/%m/%Y")
        except ValueError:
            return f"Invalid {name} '{value}': expected DD/MM/YYYY, e.g. 14/02/2022."
    if len(parsed) == 2 and parsed["start_date"] > parsed["end_date"]:
        return "start_date must not be after end_date."
    return None


class _Server(ThreadingHTTPServer):
    """A threading server that can close its keep-alive connections on stop."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server_version = "dq-sandbox"
    sys_version = ""
    timeout = 60
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # quiet: the sandbox keeps its own log in Sandbox.requests

    def _handle(self, method: str) -> None:
        sandbox = self.server.sandbox
        if method not in ("GET", "HEAD"):
            self.close_connection = True  # we do not read request bodies
        reply = sandbox.respond(method, self.path, self.headers)
        if reply.delay > 0 and sandbox._stopping.wait(reply.delay):
            reply.drop = True
        if reply.drop:
            self.close_connection = True
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(reply.body)

    def do_GET(self) -> None:  # noqa: N802
        self._handle("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle("HEAD")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self._handle("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")


def serve(
    port: int,
    learners: int,
    seed: int,
    *,
    out: TextIO = sys.stdout,
    api_key: str | None = None,
    team_id: str = "12345",
    stop: threading.Event | None = None,
) -> None:
    """Serve a sandbox in the foreground until Ctrl-C, SIGTERM or ``stop`` is set.

    Prints the URL, team id and (throw-away) key first: that is the point.
    """
    stop = stop if stop is not None else threading.Event()
    sandbox = Sandbox(learners=learners, seed=seed, port=port, api_key=api_key, team_id=team_id)
    sandbox.start()
    previous_term = None
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (a service manager, a test harness) stops as cleanly as Ctrl-C
        previous_term = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        example = f"{sandbox.url}{sandbox.team_id}/course_progress"
        print(f"Dataquest Teams API sandbox on {sandbox.url}", file=out)
        print(f"  team id:  {sandbox.team_id}", file=out)
        print(f"  API key:  {sandbox.api_key}", file=out)
        print(f"  learners: {learners}, seed: {seed}", file=out)
        print("Use it from a config:", file=out)
        print(f'  [dataquest] base_url = "{sandbox.url}"', file=out)
        print(f"  export DATAQUEST_TEAM_ID={sandbox.team_id}", file=out)
        print(f"  export DATAQUEST_API_KEY={sandbox.api_key}", file=out)
        print(f"Try: curl -H 'API-Key: {sandbox.api_key}' {example}", file=out)
        print("Press Ctrl-C to stop.", file=out, flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)
        print("Sandbox stopped.", file=out, flush=True)
