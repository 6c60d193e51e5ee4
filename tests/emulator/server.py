"""The emulator's HTTP server: a Google Sheets API v4 (and minimal Drive v3)
stand-in on 127.0.0.1 that gspread and google-auth talk to unchanged.

``Emulator`` owns the server thread, the spreadsheets, the token endpoint and
the test controls (log, quota, latency, faults, hooks, people editing by
hand). Request handling is in ``Handler``; the API semantics live in
``values_api``, ``spreadsheets_api`` and ``batch_update``.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import values_api
from .auth import (
    DRIVE_SCOPES,
    SHEETS_SCOPES,
    WRITE_SCOPES,
    TokenError,
    TokenIssuer,
    TokenRequest,
    new_key,
    write_service_account,
)
from .batch_update import batch_update
from .controls import Fault, Faults, Hook, Hooks, LoggedRequest, Quota
from .errors import INSUFFICIENT_SCOPES, MISSING_CREDENTIALS, ApiError, quota_message
from .model import Spreadsheet, new_sheet, new_spreadsheet
from .person import Person
from .spreadsheets_api import spreadsheet_json, spreadsheets_get

log = logging.getLogger(__name__)

SHEETS_PREFIX = "/v4/spreadsheets"
DRIVE_PREFIX = "/drive/v3/files"


def new_id() -> str:
    """A spreadsheet id shaped like Google's (44 URL-safe characters)."""
    return "1" + secrets.token_urlsafe(33)[:43]


class Emulator:
    """A local Sheets API v4 emulator. Use as a context manager or start()/stop()."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.host = host
        self.port = port
        self.latency = latency
        self.clock = clock
        self.sleep = sleep
        self.lock = threading.RLock()
        self.books: dict[str, Spreadsheet] = {}
        self.token_requests: list[TokenRequest] = []
        self.log: list[LoggedRequest] = []
        self.faults = Faults()
        self.hooks = Hooks()
        self.quota = Quota(clock)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.token_uri = ""
        self.issuer = TokenIssuer("")

    # --- lifecycle ---------------------------------------------------------------

    def start(self) -> Emulator:
        server = ThreadingHTTPServer((self.host, self.port), Handler)
        server.daemon_threads = True
        server.emulator = self  # type: ignore[attr-defined]
        self._server = server
        port = server.server_address[1]
        self.url = f"http://{self.host}:{port}"
        self.token_uri = f"{self.url}/token"
        self.issuer.token_uri = self.token_uri
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        log.debug("Sheets API emulator listening on %s", self.url)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- spreadsheets and people -------------------------------------------------

    def create_spreadsheet(
        self,
        title: str = "Untitled",
        *,
        shared_with: Iterable[str] | None = None,
        time_zone: str = "Etc/GMT",
        locale: str = "en_US",
        sheets: Iterable[str] = ("Sheet1",),
    ) -> str:
        """Create a spreadsheet; ``shared_with`` None lets any valid token in."""
        book = new_spreadsheet(
            new_id(),
            title,
            locale=locale,
            time_zone=time_zone,
            sheets=sheets,
            shared_with=set(shared_with) if shared_with is not None else None,
        )
        with self.lock:
            self.books[book.spreadsheet_id] = book
        return book.spreadsheet_id

    def share(self, spreadsheet_id: str, email: str) -> None:
        with self.lock:
            book = self.books[spreadsheet_id]
            if book.shared_with is not None:
                book.shared_with.add(email)

    def spreadsheet(self, spreadsheet_id: str) -> Spreadsheet:
        """The live model (read it under ``emulator.lock`` while requests run)."""
        return self.books[spreadsheet_id]

    def person(self, spreadsheet_id: str) -> Person:
        return Person(self, spreadsheet_id)

    # --- credentials -------------------------------------------------------------

    def service_account(
        self, directory: Path, email: str = "sync@test-project.iam.gserviceaccount.com"
    ) -> Path:
        """Write a throw-away service-account JSON whose key this emulator trusts."""
        key = new_key()
        with self.lock:
            self.issuer.register(email, key.public_key())
        path, _ = write_service_account(Path(directory), email, key, self.token_uri)
        return path

    def issue_token(
        self, email: str, scope: str = "https://www.googleapis.com/auth/spreadsheets"
    ) -> str:
        """An access token for ``email`` without the JWT dance (for raw-HTTP tests)."""
        with self.lock:
            return self.issuer.issue(email, scope)

    # --- controls ----------------------------------------------------------------

    def clear_log(self) -> None:
        with self.lock:
            self.log.clear()

    def set_quota(self, *, read_per_minute: int = 60, write_per_minute: int = 60) -> None:
        """Enforce per-user per-minute quotas (off until called)."""
        with self.lock:
            self.quota.set(read_per_minute, write_per_minute)

    def inject(
        self,
        status: int | None = 500,
        *,
        count: int = 1,
        kind: str | None = None,
        method: str | None = None,
        drop: bool = False,
        after: int = 0,
        apply_then_drop: bool = False,
        message: str | None = None,
    ) -> None:
        """Make the next ``count`` matching requests fail (after skipping ``after``).

        ``drop`` closes the connection without an answer; ``apply_then_drop``
        applies the request first, then drops (a write lost in the middle).
        Token requests only match when ``kind="token"``.
        """
        with self.lock:
            self.faults.pending.append(
                Fault(
                    status,
                    count,
                    kind,
                    method,
                    drop or apply_then_drop,
                    after,
                    apply_then_drop,
                    message,
                )
            )

    def before_request(
        self, fn: Callable[[LoggedRequest], None], *, kind: str | None = None, nth: int = 1
    ) -> None:
        """Run ``fn`` just before the ``nth`` request of ``kind`` is handled."""
        with self.lock:
            self.hooks.pending.append(Hook(fn, kind, nth))

    def requests_of(self, kind: str) -> list[LoggedRequest]:
        with self.lock:
            return [r for r in self.log if r.kind == kind]


def classify(method: str, path: str) -> tuple[str, str | None, str | None]:
    """(kind, spreadsheet id, range text) of a request path."""
    if path == "/token":
        return "token", None, None
    if path.startswith("/upload/drive/"):
        return "other", path.rstrip("/").rsplit("/", 1)[-1], None
    if path.startswith(DRIVE_PREFIX):
        rest = path[len(DRIVE_PREFIX) :].strip("/")
        if not rest:
            return ("drive.create" if method == "POST" else "other"), None, None
        if "/" in rest:
            return "other", rest.split("/", 1)[0], None
        kinds = {"GET": "drive.get", "DELETE": "drive.delete"}
        return kinds.get(method, "other"), rest, None
    if not path.startswith(SHEETS_PREFIX):
        return "other", None, None
    rest = path[len(SHEETS_PREFIX) :]
    if rest in ("", "/"):
        return ("spreadsheets.create" if method == "POST" else "other"), None, None
    rest = rest[1:]
    if rest.endswith(":batchUpdate") and "/" not in rest:
        return "spreadsheets.batchUpdate", rest[: -len(":batchUpdate")], None
    if "/" not in rest:
        return ("spreadsheets.get" if method == "GET" else "other"), rest, None
    sid, _, tail = rest.partition("/")
    for suffix, kind in (
        ("values:batchGet", "values.batchGet"),
        ("values:batchUpdate", "values.batchUpdate"),
        ("values:batchClear", "values.batchClear"),
    ):
        if tail == suffix:
            return kind, sid, None
    if tail.startswith("values/"):
        rng = tail[len("values/") :]
        if rng.endswith(":append") and method == "POST":
            return "values.append", sid, unquote(rng[: -len(":append")])
        if rng.endswith(":clear") and method == "POST":
            return "values.clear", sid, unquote(rng[: -len(":clear")])
        if method == "GET":
            return "values.get", sid, unquote(rng)
        if method == "PUT":
            return "values.update", sid, unquote(rng)
    return "other", sid, None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ESF"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        # One write for headers, one for the body: without this, Nagle's algorithm
        # and delayed ACKs add ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("emulator: " + format, *args)

    @property
    def emu(self) -> Emulator:
        return self.server.emulator  # type: ignore[attr-defined,no-any-return]

    def do_GET(self) -> None:  # noqa: N802
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")

    def do_PATCH(self) -> None:  # noqa: N802
        self._handle("PATCH")

    # --- plumbing ----------------------------------------------------------------

    def _handle(self, method: str) -> None:
        emu = self.emu
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        params = parse_qs(split.query, keep_blank_values=True)
        kind, sid, rng = classify(method, split.path)
        req = LoggedRequest(
            method=method,
            path=split.path,
            kind=kind,
            bytes_in=len(raw),
            spreadsheet_id=sid,
            query=split.query,
        )
        if emu.latency:
            emu.sleep(emu.latency)
        with emu.lock:
            hooks = emu.hooks.due(req)
        for hook in hooks:
            hook.fn(req)
        with emu.lock:
            fault = emu.faults.take(req)
        if fault is not None and not fault.apply_then_drop:
            if fault.drop:
                self._drop(req)
                return
            status = fault.status or 500
            error = ApiError(status, fault.message)
            if status == 429 and fault.message is None:
                bucket = "Read" if method == "GET" else "Write"
                error = ApiError(429, quota_message(bucket))
            self._send(req, status, error.body())
            return
        try:
            status, body = self._dispatch(req, method, kind, sid, rng, params, raw)
        except ApiError as exc:
            status, body = exc.code, exc.body()
        except TokenError as exc:
            status, body = exc.status, {"error": exc.error, "error_description": exc.description}
        except Exception:  # a bug in the emulator: answer like Google's 500
            log.exception("emulator failed on %s %s", method, split.path)
            status, body = 500, ApiError(500).body()
        if fault is not None:
            self._drop(req)
            return
        self._send(req, status, body)

    def _drop(self, req: LoggedRequest) -> None:
        req.dropped = True
        req.status = 0
        with self.emu.lock:
            self.emu.log.append(req)
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(2)

    def _send(self, req: LoggedRequest, status: int, body: Any) -> None:
        data = b"" if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        req.status = status
        req.bytes_out = len(data)
        with self.emu.lock:
            self.emu.log.append(req)
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    # --- dispatch ----------------------------------------------------------------

    def _json(self, raw: bytes) -> dict[str, Any]:
        if not raw:
            return {}
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "Invalid JSON payload received.") from None
        if not isinstance(body, dict):
            raise ApiError(400, "Invalid JSON payload received. Expected an object.")
        return body

    def _dispatch(
        self,
        req: LoggedRequest,
        method: str,
        kind: str,
        sid: str | None,
        rng: str | None,
        params: dict[str, list[str]],
        raw: bytes,
    ) -> tuple[int, Any]:
        emu = self.emu
        if kind == "token":
            form = parse_qs(raw.decode("utf-8", "replace"))
            with emu.lock:
                email, scope, answer = emu.issuer.grant(form)
                emu.token_requests.append(TokenRequest(email, scope, answer["access_token"]))
            req.client_email = email
            return 200, answer
        grant = self._authorise(req)
        scopes = grant.scopes
        is_drive = kind.startswith("drive.") or req.path.startswith(
            (DRIVE_PREFIX, "/upload/drive/")
        )
        needed = DRIVE_SCOPES if is_drive else (SHEETS_SCOPES if method == "GET" else WRITE_SCOPES)
        if not scopes & needed:
            raise ApiError(403, INSUFFICIENT_SCOPES, "PERMISSION_DENIED")
        if not is_drive:
            bucket = "read" if method == "GET" else "write"
            with emu.lock:
                admitted = emu.quota.admit(grant.email, bucket)
            if not admitted:
                raise ApiError(429, quota_message(bucket.capitalize()))
        uploading = req.path.startswith("/upload/")
        body = self._json(raw) if method in ("POST", "PUT", "PATCH") and not uploading else {}
        with emu.lock:
            if kind == "spreadsheets.create":
                return 200, self._create(grant.email, body)
            if kind == "drive.create":
                return 200, self._drive_create(grant.email, body)
            if kind == "other" and is_drive and sid is None:
                return 200, self._drive_list(grant.email)
            if sid is None or (kind == "other" and not is_drive):
                raise ApiError(404, "Requested entity was not found.")
            book = self._book(sid, grant.email, drive=is_drive)
            if kind == "other":
                return self._drive_extra(grant.email, req.path, book, raw)
            return self._on_book(req, kind, book, rng, params, body)

    def _authorise(self, req: LoggedRequest) -> Any:
        header = self.headers.get("Authorization") or ""
        if not header.startswith("Bearer "):
            raise ApiError(401, MISSING_CREDENTIALS, "UNAUTHENTICATED")
        with self.emu.lock:
            grant = self.emu.issuer.check(header[len("Bearer ") :].strip())
        if grant is None:
            raise ApiError(401)
        req.client_email = grant.email
        return grant

    def _book(self, sid: str, email: str, *, drive: bool) -> Spreadsheet:
        book = self.emu.books.get(sid)
        if book is None:
            if drive:
                raise ApiError(404, f"File not found: {sid}.", "NOT_FOUND")
            raise ApiError(404, "Requested entity was not found.")
        if book.shared_with is not None and email not in book.shared_with:
            if drive:
                raise ApiError(404, f"File not found: {sid}.", "NOT_FOUND")
            raise ApiError(403, "The caller does not have permission", "PERMISSION_DENIED")
        return book

    def _on_book(
        self,
        req: LoggedRequest,
        kind: str,
        book: Spreadsheet,
        rng: str | None,
        params: dict[str, list[str]],
        body: dict[str, Any],
    ) -> tuple[int, Any]:
        emu = self.emu
        if rng is not None:
            req.ranges = [rng]
        option = params.get("valueInputOption")
        req.value_input_option = option[0] if option else None
        if kind == "spreadsheets.get":
            req.ranges = params.get("ranges", [])
            return 200, spreadsheets_get(book, params)
        if kind == "spreadsheets.batchUpdate":
            return 200, batch_update(book, body, req.client_email)
        if kind == "values.get":
            return 200, values_api.values_get(book, rng or "", params)
        if kind == "values.batchGet":
            req.ranges = params.get("ranges", [])
            return 200, values_api.values_batch_get(book, params)
        if kind == "values.update":
            reply, cells = values_api.values_update(book, rng or "", params, body)
            req.cells_written = cells
            return 200, reply
        if kind == "values.batchUpdate":
            req.ranges = [str(d.get("range")) for d in body.get("data") or []]
            req.value_input_option = body.get("valueInputOption")
            reply, cells = values_api.values_batch_update(book, body)
            req.cells_written = cells
            return 200, reply
        if kind == "values.append":
            reply, cells = values_api.values_append(book, rng or "", params, body)
            req.cells_written = cells
            return 200, reply
        if kind == "values.clear":
            return 200, values_api.values_clear(book, rng or "")
        if kind == "values.batchClear":
            req.ranges = list(body.get("ranges") or [])
            return 200, values_api.values_batch_clear(book, body)
        if kind == "drive.get":
            return 200, self._drive_file(book, params)
        if kind == "drive.delete":
            del emu.books[book.spreadsheet_id]
            return 204, None
        raise ApiError(404, "Requested entity was not found.")

    # --- creation and drive ------------------------------------------------------

    def _create(self, email: str, body: dict[str, Any]) -> dict[str, Any]:
        props = body.get("properties") or {}
        titles = [
            (s.get("properties") or {}).get("title") or f"Sheet{i + 1}"
            for i, s in enumerate(body.get("sheets") or [{}])
        ]
        book = new_spreadsheet(
            new_id(),
            props.get("title") or "Untitled spreadsheet",
            locale=props.get("locale") or "en_US",
            time_zone=props.get("timeZone") or "Etc/GMT",
            sheets=titles,
            shared_with={email},
        )
        self.emu.books[book.spreadsheet_id] = book
        return spreadsheet_json(book, ranges=[], include_grid=False, mask=None)

    def _drive_create(self, email: str, body: dict[str, Any]) -> dict[str, Any]:
        mime = body.get("mimeType") or "application/vnd.google-apps.spreadsheet"
        if mime != "application/vnd.google-apps.spreadsheet":
            raise ApiError(400, "The emulator only creates spreadsheets.")
        book = new_spreadsheet(new_id(), body.get("name") or "Untitled", shared_with={email})
        self.emu.books[book.spreadsheet_id] = book
        return {
            "kind": "drive#file",
            "id": book.spreadsheet_id,
            "name": book.props["title"],
            "mimeType": mime,
        }

    def _drive_file(self, book: Spreadsheet, params: dict[str, list[str]]) -> dict[str, Any]:
        full = {
            "kind": "drive#file",
            "id": book.spreadsheet_id,
            "name": book.props["title"],
            "mimeType": "application/vnd.google-apps.spreadsheet",
            "createdTime": book.created,
            "modifiedTime": book.created,
        }
        fields = (params.get("fields") or [""])[0]
        if not fields:
            return {k: full[k] for k in ("kind", "id", "name", "mimeType")}
        wanted = [f.strip() for f in fields.split(",")]
        return {k: full[k] for k in wanted if k in full}

    def _drive_extra(self, email: str, path: str, book: Spreadsheet, raw: bytes) -> tuple[int, Any]:
        """Drive odds and ends gspread uses: copy, comments, CSV import."""
        if path.endswith("/copy"):
            body = self._json(raw)
            clone = copy.deepcopy(book)
            clone.spreadsheet_id = new_id()
            clone.props["title"] = body.get("name") or f"Copy of {book.props['title']}"
            clone.shared_with = {email}
            self.emu.books[clone.spreadsheet_id] = clone
            return 200, {
                "kind": "drive#file",
                "id": clone.spreadsheet_id,
                "name": clone.props["title"],
                "mimeType": "application/vnd.google-apps.spreadsheet",
            }
        if path.endswith("/comments"):
            return 200, {"comments": []}
        if path.startswith("/upload/"):
            # A CSV converted into the spreadsheet: one sheet named like the file,
            # in the uploading account's time zone (the recordings' was Los Angeles).
            rows = list(csv.reader(io.StringIO(raw.decode("utf-8"))))
            sheet = new_sheet(book.new_sheet_id(), book.props["title"], 0, 1000, 26)
            for i, data in enumerate(rows):
                target = sheet.row(i)
                for j, value in enumerate(data):
                    target.set_value(j, value or None)
            book.sheets = [sheet]
            book.props["timeZone"] = "America/Los_Angeles"
            return 200, {"kind": "drive#file", "id": book.spreadsheet_id}
        raise ApiError(404, "Requested entity was not found.")

    def _drive_list(self, email: str) -> dict[str, Any]:
        files = [
            {
                "kind": "drive#file",
                "id": b.spreadsheet_id,
                "name": b.props["title"],
                "mimeType": "application/vnd.google-apps.spreadsheet",
            }
            for b in self.emu.books.values()
            if b.shared_with is None or email in b.shared_with
        ]
        return {"kind": "drive#fileList", "incompleteSearch": False, "files": files}
