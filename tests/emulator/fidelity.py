"""Fidelity harness: replay Google's recorded answers against the emulator.

Each recording in ``../shared/fixtures/gspread-cassettes/`` (real traffic
between gspread's test suite and Google) is replayed request by request
against a fresh emulator. Recorded spreadsheet ids, sheet ids and other
server-made ids are mapped onto the emulator's as they appear; every answer is
compared with Google's (status code and JSON body, ignoring volatile fields:
default formats and theme, Drive timestamps). ``python -m tests.emulator.fidelity``
prints the per-endpoint table.
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from .batch_update import IN_SCOPE
from .model import new_spreadsheet
from .server import Emulator, classify

RECORDED_EMAIL = "telegram-budgeter@telegram-budgeter.iam.gserviceaccount.com"
SCOPE = "https://www.googleapis.com/auth/spreadsheets https://www.googleapis.com/auth/drive"
VOLATILE = {"defaultFormat", "spreadsheetTheme", "createdTime", "modifiedTime"}
ID_KEYS = {"sheetId", "protectedRangeId", "metadataId"}
STR_ID_KEYS = {"namedRangeId"}
SHEETS_KINDS = {
    "spreadsheets.get",
    "spreadsheets.create",
    "values.get",
    "values.batchGet",
    "values.update",
    "values.batchUpdate",
    "values.append",
    "values.clear",
    "values.batchClear",
}
_SPREADSHEET_ID = re.compile(r"[A-Za-z0-9_-]{40,50}")


def shared_dir() -> Path:
    return Path(__file__).resolve().parents[2].parent / "shared"


def cassette_dir() -> Path:
    return shared_dir() / "fixtures" / "gspread-cassettes"


@dataclass
class Outcome:
    cassette: str
    index: int
    endpoint: str
    in_scope: bool
    matched: bool
    difference: str = ""


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def in_scope(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.in_scope]

    @property
    def ratio(self) -> float:
        scoped = self.in_scope
        return sum(o.matched for o in scoped) / len(scoped) if scoped else 0.0

    def table(self) -> str:
        rows: dict[str, list[Outcome]] = defaultdict(list)
        for o in self.outcomes:
            rows[o.endpoint].append(o)
        lines = [
            f"{'endpoint':48} {'scope':>5} {'total':>5} {'match':>5} {'miss':>5}  first difference"
        ]
        scoped_rows = sorted(
            (k for k, v in rows.items() if v[0].in_scope), key=lambda k: -len(rows[k])
        )
        for key in scoped_rows:
            items = rows[key]
            missed = [o for o in items if not o.matched]
            first = (
                f"{missed[0].cassette}#{missed[0].index}: {missed[0].difference}" if missed else ""
            )
            lines.append(
                f"{key:48} {'in':>5} {len(items):5} {len(items) - len(missed):5} "
                f"{len(missed):5}  {first[:150]}"
            )
        out_rows = sorted(
            (k for k, v in rows.items() if not v[0].in_scope), key=lambda k: -len(rows[k])
        )
        for key in out_rows:
            lines.append(f"{key:48} {'out':>5} {len(rows[key]):5}")
        scoped = self.in_scope
        matched = sum(o.matched for o in scoped)
        lines.append(
            f"in scope: {matched}/{len(scoped)} matched ({100 * self.ratio:.1f}%); "
            f"out of scope: {len(self.outcomes) - len(scoped)} interactions replayed, not scored"
        )
        return "\n".join(lines)


class Replayer:
    """Replays one cassette against one emulator, mapping ids as they appear."""

    def __init__(self, emulator: Emulator, name: str) -> None:
        self.emu = emulator
        self.name = name
        self.ids: dict[str, str] = {}
        self.nums: dict[int, int] = {0: 0}
        self.strs: dict[str, str] = {}
        self.session = requests.Session()
        token = emulator.issue_token(RECORDED_EMAIL, SCOPE)
        self.session.headers["Authorization"] = f"Bearer {token}"

    # --- id mapping --------------------------------------------------------------

    def _map_text(self, text: str) -> str:
        for old, new in self.ids.items():
            text = text.replace(old, new)
        return text

    def _map_json(self, value: Any) -> Any:
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                if k in ID_KEYS and isinstance(v, int):
                    out[k] = self.nums.get(v, v)
                elif k in STR_ID_KEYS and isinstance(v, str):
                    out[k] = self.strs.get(v, v)
                else:
                    out[k] = self._map_json(v)
            return out
        if isinstance(value, list):
            return [self._map_json(v) for v in value]
        if isinstance(value, str):
            return self._map_text(value)
        return value

    def _learn(self, recorded: Any, got: Any) -> None:
        """Pair server-made ids in the recorded answer with the emulator's."""
        if isinstance(recorded, dict) and isinstance(got, dict):
            for k, v in recorded.items():
                if k not in got:
                    continue
                if k in ID_KEYS and isinstance(v, int) and isinstance(got[k], int):
                    self.nums.setdefault(v, got[k])
                elif k in STR_ID_KEYS and isinstance(v, str) and isinstance(got[k], str):
                    self.strs.setdefault(v, got[k])
                else:
                    self._learn(v, got[k])
        elif isinstance(recorded, list) and isinstance(got, list):
            for a, b in zip(recorded, got, strict=False):
                self._learn(a, b)

    def _ensure_spreadsheet(self, sid: str | None, recorded_status: int) -> None:
        """Ids never created in this recording: a private sheet (403) or unknown (404)."""
        if not sid or sid in self.ids or not _SPREADSHEET_ID.fullmatch(sid):
            return
        if recorded_status == 403:
            book = new_spreadsheet(sid, "Private", shared_with={"someone-else@example.com"})
            with self.emu.lock:
                self.emu.books[sid] = book
        self.ids[sid] = sid

    def _seed_listed(self, listing: Any) -> None:
        """Files a recorded Drive listing shows but this recording never created
        (left in Google's test account): create them so later opens find them."""
        if not isinstance(listing, dict):
            return
        for item in listing.get("files") or []:
            fid = item.get("id", "")
            if fid in self.ids or not _SPREADSHEET_ID.fullmatch(fid):
                continue
            book = new_spreadsheet(fid, item.get("name", "Untitled"), shared_with=None)
            with self.emu.lock:
                self.emu.books[fid] = book
            self.ids[fid] = fid

    # --- replay ------------------------------------------------------------------

    def replay(self, interaction: dict[str, Any], index: int) -> Outcome:
        req, resp = interaction["request"], interaction["response"]
        split = urlsplit(req["uri"])
        kind, sid, _ = classify(req["method"], split.path)
        status = int(resp["status"]["code"])
        self._ensure_spreadsheet(sid, status)
        if kind == "other" and split.path.rstrip("/").endswith("/files"):
            self._seed_listed(_parse(resp["body"].get("string") or ""))
        body_text = req.get("body") or ""
        endpoint, in_scope = self._endpoint(kind, req["method"], split.path, body_text)
        url = self.emu.url + self._map_text(split.path) + ("?" + split.query if split.query else "")
        data = None
        headers = {}
        if body_text:
            try:
                data = json.dumps(self._map_json(json.loads(body_text))).encode()
                headers["Content-Type"] = "application/json"
            except ValueError:
                data = self._map_text(body_text).encode()
        got = self.session.request(req["method"], url, data=data, headers=headers, timeout=30)
        recorded_text = resp["body"].get("string") or ""
        recorded = _parse(recorded_text)
        answer = _parse(got.text)
        drive_file = kind == "drive.create" or split.path.endswith("/copy")
        pair = isinstance(recorded, dict) and isinstance(answer, dict)
        if drive_file and pair and "id" in recorded and "id" in answer:
            self.ids[recorded["id"]] = answer["id"]
        self._learn(recorded, answer)
        expected = _strip(self._map_json(recorded))
        actual = _strip(answer)
        if got.status_code != status:
            diff = f"status {got.status_code} != {status}: {str(answer)[:120]}"
            return Outcome(self.name, index, endpoint, in_scope, False, diff)
        difference = _first_difference(expected, actual, "$")
        return Outcome(self.name, index, endpoint, in_scope, difference is None, difference or "")

    def _endpoint(self, kind: str, method: str, path: str, body: str) -> tuple[str, bool]:
        if kind == "spreadsheets.batchUpdate":
            try:
                kinds = [next(iter(r)) for r in json.loads(body).get("requests", [])]
            except (ValueError, AttributeError, StopIteration):
                kinds = []
            label = "batchUpdate:" + "+".join(sorted(set(kinds)))
            return label, bool(kinds) and all(k in IN_SCOPE for k in kinds)
        if kind in SHEETS_KINDS:
            return f"{method} {kind}", True
        if kind == "other":
            tail = path.rsplit("/", 1)[-1]
            label = (
                path.split("/")[1] + " " + (tail if not _SPREADSHEET_ID.fullmatch(tail) else "{id}")
            )
            return f"{method} {label}", False
        return f"{method} {kind}", False


def _parse(text: str) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _first_difference(expected: Any, actual: Any, path: str) -> str | None:
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in expected:
            if key not in actual:
                return f"{path}.{key} missing (expected {json.dumps(expected[key])[:80]})"
            diff = _first_difference(expected[key], actual[key], f"{path}.{key}")
            if diff:
                return diff
        for key in actual:
            if key not in expected:
                return f"{path}.{key} unexpected ({json.dumps(actual[key])[:80]})"
        return None
    if isinstance(expected, list) and isinstance(actual, list):
        for i, (a, b) in enumerate(zip(expected, actual, strict=False)):
            diff = _first_difference(a, b, f"{path}[{i}]")
            if diff:
                return diff
        if len(expected) != len(actual):
            return f"{path} length {len(actual)} != {len(expected)}"
        return None
    if expected == actual and type(expected) is type(actual):
        return None
    numbers = all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in (expected, actual)
    )
    if numbers and expected == actual:
        return None
    return f"{path}: {json.dumps(actual)[:70]} != {json.dumps(expected)[:70]}"


def run(directory: Path | None = None) -> Report:
    directory = directory or cassette_dir()
    report = Report()
    for path in sorted(directory.glob("*.json")):
        cassette = json.loads(path.read_text())
        with Emulator() as emu:
            replayer = Replayer(emu, path.stem)
            for i, interaction in enumerate(cassette.get("interactions", [])):
                report.outcomes.append(replayer.replay(interaction, i))
            replayer.session.close()
    return report


def main() -> int:
    if not cassette_dir().is_dir():
        print(f"no recordings at {cassette_dir()} (../shared is absent)")
        return 1
    report = run()
    print(report.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
