"""The sandbox's generated team: deterministic learners whose progress moves on.

``World(seed, learners)`` simulates a Dataquest team day by day. ``epoch`` 0
is the starting point (``learners`` members with a history behind them and a
few pending invitations); each later epoch is one more day in which some
members study (progress grows, missions complete, ``last_login`` moves), a few
join (invited, then accepting) and a few leave. ``World.records(endpoint,
epoch)`` is a pure function of (seed, learners, epoch): the same arguments give
the same records in any process.

The records follow ``reference/dataquest-teams-api.md``: field names and
order, timestamps like ``"2022-02-16T12:16:09.692Z"``, ``null`` where a date
has not happened yet, ``"N/A"`` course ids, ``time_spent``'s booleans and its
``"all time: hours spent"`` column (plus two ``"<period>: hours spent"``
columns), and invitations as ``"Pending"``/``"Active"``.
"""

from __future__ import annotations

import dataclasses
import functools
import random
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

#: Day 0 of the simulation (epoch 0's data is as of 18:00 UTC that day).
BASE_DAY = datetime(2024, 3, 4, tzinfo=UTC)


@dataclass(frozen=True)
class Course:
    course_id: str
    name: str
    missions: tuple[str, ...]


@dataclass(frozen=True)
class Path:
    path_id: int
    name: str
    language: str
    courses: tuple[Course, ...]

    @functools.cached_property
    def missions(self) -> tuple[tuple[int, Course, str], ...]:
        """(step, course, mission) in study order."""
        return tuple(
            (step, course, mission)
            for step, course in enumerate(self.courses, start=1)
            for mission in course.missions
        )


def _course(course_id: str, name: str, *missions: str) -> Course:
    return Course(course_id, name, missions)


PY_BASICS = _course(
    "175",
    "Variables, Data Types, and Lists in Python",
    "Python Programming",
    "Programming Python Variables",
    "Python Data Types: Integers, Floats, Strings",
    "Python Lists",
)
PY_LOOPS = _course(
    "176",
    "Loops and Conditional Statements in Python",
    "Python For Loops",
    "Python If, Else, Elif Statements",
    "Guided Project: Profitable App Profiles for the App Store and Google Play Markets",
)
PY_FUNCTIONS = _course(
    "177",
    "Dictionaries, Frequency Tables, and Functions in Python",
    "Python Dictionaries",
    "Python Functions: Using Built-in Functions and Creating Functions",
    "Python Functions: Arguments, Parameters, and Debugging",
)
PY_INTERMEDIATE = _course(
    "N/A",
    "Python for Data Science: Intermediate",
    "Cleaning and Preparing Data in Python",
    "Object-Oriented Python",
    "Working with Dates and Times in Python",
)
PANDAS = _course(
    "181",
    "Introduction to Pandas and NumPy for Data Analysis",
    "Introduction to NumPy",
    "Boolean Indexing with NumPy",
    "Introduction to Pandas",
    "Exploring Data with Pandas: Fundamentals",
    "Exploring Data with Pandas: Intermediate",
)
DATAVIZ = _course(
    "185",
    "Data Visualization Fundamentals",
    "Line Graphs and Time Series",
    "Scatter Plots and Correlations",
    "Bar Plots, Histograms, and Distributions",
)
SQL = _course(
    "190",
    "Introduction to SQL and Databases",
    "Introduction to SQL",
    "Filtering and Sorting Data",
    "Summary Statistics",
    "Group Summary Statistics",
)
STATS = _course(
    "201",
    "Probability and Statistics with Python",
    "Sampling",
    "Variables in Statistics",
    "Frequency Distributions",
)
ML = _course(
    "210",
    "Machine Learning Fundamentals",
    "Introduction to K-Nearest Neighbors",
    "Evaluating Model Performance",
    "Multivariate K-Nearest Neighbors",
)
R_BASICS = _course(
    "301",
    "Introduction to Programming in R",
    "Introduction to Programming in R",
    "R Vectors",
    "R Data Types",
)
R_STRUCTURES = _course(
    "302",
    "Data Structures in R",
    "R Matrices",
    "R Lists",
    "R Data Frames",
)
R_FUNCTIONS = _course(
    "303",
    "Control Flow, Iteration, and Functions in R",
    "Control Structures in R",
    "Vectorized Functions in R",
    "Writing Custom Functions in R",
)
R_VIZ = _course(
    "N/A",
    "Data Visualization in R",
    "Line Graphs and Time Series in R",
    "Multiple Plots in R",
)

PATHS: tuple[Path, ...] = (
    Path(
        8,
        "Data Analyst in Python",
        "Python",
        (PY_BASICS, PY_LOOPS, PY_FUNCTIONS, PY_INTERMEDIATE, PANDAS, DATAVIZ, SQL),
    ),
    Path(
        9,
        "Data Scientist in Python",
        "Python",
        (PY_BASICS, PY_LOOPS, PY_FUNCTIONS, PY_INTERMEDIATE, PANDAS, DATAVIZ, STATS, ML),
    ),
    Path(12, "Data Analyst in R", "R", (R_BASICS, R_STRUCTURES, R_FUNCTIONS, R_VIZ, SQL)),
    Path(21, "Python Basics for Data Analysis", "Python", (PY_BASICS, PY_LOOPS, PY_FUNCTIONS)),
)
_PATH_WEIGHTS = (4, 3, 2, 1)
#: Second paths that share courses with the first (same missions under two paths).
_SECOND_PATH = {0: 1, 1: 0, 3: 0, 2: 0}

FIRST_NAMES = (
    "José", "Zoë", "Renée", "Björn", "Chloé", "François", "Łukasz", "Søren", "Inês",
    "Mónica", "Jürgen", "Ana", "Priya", "Wei", "Olusegun", "Aarav", "Fatima", "Mei",
    "Carlos", "Emma", "Liam", "Noah", "Olivia", "Sofia", "Mateo", "Amara", "Hiroshi",
    "Yuki", "Ngozi", "Kwame", "Elena", "Dmitri", "Ingrid", "Sven", "Ahmed", "Layla",
    "Omar", "Grace", "Daniel", "Hannah", "Lucía", "Anaïs", "Raúl", "Tomás", "Maja",
    "Ravi", "Nadia", "Samuel", "Aoife", "Jonas",
)  # fmt: skip
LAST_NAMES = (
    "García", "Müller", "Nguyễn", "Dubois", "Kowalski", "Smith", "O'Brien", "Johansson",
    "Rossi", "Silva", "Patel", "Kim", "Okafor", "Mensah", "Novák", "Fernández",
    "Jørgensen", "Chen", "Williams", "Brown", "Schmidt", "Yılmaz", "Ivanova", "Sato",
    "Haddad", "Costa", "Moreau", "Núñez", "Lefèvre", "Andersson", "Murphy", "Das",
    "Abara", "Lindqvist", "Papadopoulos", "Wójcik", "Hernández", "Ali", "Tanaka", "Bianchi",
)  # fmt: skip
DOMAINS = ("northwind.example", "contoso.example", "fabrikam.example")
_FOLD = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ı": "i", "ß": "ss", "æ": "ae"})


def ascii_fold(text: str) -> str:
    """'Łukasz Nguyễn' -> 'Lukasz Nguyen' (for e-mail addresses)."""
    text = unicodedata.normalize("NFKD", text.translate(_FOLD))
    kept = "".join(c for c in text if not unicodedata.combining(c))
    return kept.encode("ascii", "ignore").decode()


@functools.lru_cache(maxsize=1 << 16)
def timestamp(day: float) -> str:
    """The API's timestamp for a (fractional) simulation day: '2024-03-04T12:16:09.692Z'."""
    moment = BASE_DAY + timedelta(days=day)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class Member:
    """One person in the team (or invited to it) and their progress so far."""

    id: int
    name: str
    email: str
    invited: float  # day
    accepted: float | None = None  # day; None while the invitation is pending
    paths: tuple[int, ...] = (0,)
    has_license: bool = True
    activity: float = 0.3  # chance of studying on a given day
    #: (started, completed) days of each mission of the first path, in order;
    #: the last one's completed is None while it is in progress.
    missions: list[tuple[float, float | None]] = field(default_factory=list)
    current_pct: int = 0
    last_login: float | None = None
    hours: float = 0.0
    recent: list[tuple[int, float]] = field(default_factory=list)  # (day, hours)

    def copy(self) -> Member:
        """A copy that shares nothing mutable with this one."""
        return dataclasses.replace(self, missions=list(self.missions), recent=list(self.recent))


@dataclass
class TeamState:
    day: int
    members: dict[int, Member]
    next_id: int


class People:
    """The endless, deterministic list of people a seed can invite (unique e-mails)."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"dq-sandbox:{seed}:people")
        self._domain = DOMAINS[seed % len(DOMAINS)]
        self._people: list[tuple[str, str]] = []
        self._emails: set[str] = set()

    def __getitem__(self, index: int) -> tuple[str, str]:
        while len(self._people) <= index:
            first = self._rng.choice(FIRST_NAMES)
            last = self._rng.choice(LAST_NAMES)
            local = f"{ascii_fold(first)}.{ascii_fold(last)}".lower().replace("'", "")
            email = f"{local}@{self._domain}"
            n = 2
            while email in self._emails:
                email = f"{local}{n}@{self._domain}"
                n += 1
            self._emails.add(email)
            self._people.append((f"{first} {last}", email))
        return self._people[index]


class World:
    """A simulated team for (seed, learners); see the module docstring."""

    def __init__(self, seed: int = 1, learners: int = 40) -> None:
        if learners < 0:
            raise ValueError("learners must not be negative")
        self.seed = seed
        self.learners = learners
        self._people = People(seed)
        self._states: dict[int, TeamState] = {}
        self._records: dict[tuple[int, str], list[dict[str, Any]]] = {}

    # --- the simulation -------------------------------------------------------------

    def state(self, epoch: int) -> TeamState:
        """The team at ``epoch`` (computed forward from the nearest known state)."""
        if epoch < 0:
            raise ValueError("epoch must not be negative")
        if epoch in self._states:
            return self._states[epoch]
        known = [e for e in self._states if e < epoch]
        if known:
            start = max(known)
            state = self._states[start]
        else:
            start, state = 0, self._initial()
            self._remember(0, state)
        for e in range(start + 1, epoch + 1):
            state = self._step(state, e)
            self._remember(e, state)
        return state

    def _remember(self, epoch: int, state: TeamState) -> None:
        self._states[epoch] = state
        if len(self._states) > 16:  # keep epoch 0 and the most recent ones
            for old in sorted(self._states)[1:-12]:
                del self._states[old]
                for endpoint in ENDPOINT_BUILDERS:
                    self._records.pop((old, endpoint), None)

    def _rng(self, epoch: int) -> random.Random:
        return random.Random(f"dq-sandbox:{self.seed}:{self.learners}:{epoch}")

    def _new_member(self, rng: random.Random, member_id: int, invited: float) -> Member:
        name, email = self._people[member_id]
        first = rng.choices(range(len(PATHS)), weights=_PATH_WEIGHTS)[0]
        paths = (first, _SECOND_PATH[first]) if rng.random() < 0.15 else (first,)
        return Member(
            id=member_id,
            name=name,
            email=email,
            invited=invited,
            paths=paths,
            has_license=rng.random() < 0.9,
            activity=0.0 if rng.random() < 0.1 else rng.uniform(0.1, 0.8),
        )

    def _initial(self) -> TeamState:
        rng = self._rng(0)
        members: dict[int, Member] = {}
        for member_id in range(self.learners):
            invited = -rng.uniform(8, 400)
            member = self._new_member(rng, member_id, invited)
            member.accepted = min(invited + rng.uniform(0.01, 7), -0.5)
            path = PATHS[member.paths[0]]
            total = len(path.missions)
            done = total if rng.random() < 0.05 else int(rng.betavariate(1.3, 2.5) * total)
            days = sorted(rng.uniform(member.accepted, -0.2) for _ in range(done))
            started = member.accepted + rng.uniform(0.001, 0.05)
            for completed in days:
                member.missions.append((started, completed))
                started = completed + rng.uniform(0.0005, 0.01)
            if done < total:
                member.missions.append((min(started, -0.1), None))
                member.current_pct = rng.randint(0, 95)
            member.hours = round(done * rng.uniform(0.6, 1.6) + rng.uniform(0.1, 2), 2)
            for day in range(-29, 0):
                if rng.random() < member.activity * 0.5:
                    member.recent.append((day, round(rng.uniform(0.2, 2.5), 2)))
            last_activity = max(
                [member.accepted]
                + [c for _, c in member.missions if c is not None]
                + [d + rng.uniform(0.25, 0.75) for d, _ in member.recent]
            )
            member.last_login = last_activity
            members[member_id] = member
        next_id = self.learners
        for _ in range(max(1, round(self.learners * 0.05))):
            members[next_id] = self._new_member(rng, next_id, -rng.uniform(0.2, 10))
            next_id += 1
        return TeamState(day=0, members=members, next_id=next_id)

    def _step(self, previous: TeamState, epoch: int) -> TeamState:
        rng = self._rng(epoch)
        state = TeamState(
            day=epoch,
            members={k: m.copy() for k, m in previous.members.items()},
            next_id=previous.next_id,
        )
        day = float(epoch)
        accepted = [m for m in state.members.values() if m.accepted is not None]
        # departures: a few % of the members leave (at least one when anyone is left)
        leaving = sum(rng.random() < 0.02 for _ in accepted)
        if accepted:
            leaving = max(1, leaving)
        for member in rng.sample(accepted, min(leaving, len(accepted))):
            del state.members[member.id]
        for member_id in sorted(state.members):
            member = state.members[member_id]
            if member.accepted is None:
                # a pending invitation is accepted (most within a few days)
                if rng.random() < 0.5:
                    member.accepted = day - rng.uniform(0.3, 0.7)
                    member.missions.append((member.accepted + 0.01, None))
                    member.current_pct = rng.randint(0, 60)
                    member.last_login = member.accepted + 0.02
                continue
            member.recent = [(d, h) for d, h in member.recent if d > epoch - 30]
            if rng.random() < member.activity:
                self._study(rng, member, day)
        # arrivals: invitations sent today (at least one)
        arriving = max(1, sum(rng.random() < 0.03 for _ in range(max(self.learners, 1))))
        for _ in range(arriving):
            member = self._new_member(rng, state.next_id, day - rng.uniform(0.3, 0.9))
            state.members[state.next_id] = member
            state.next_id += 1
        return state

    def _study(self, rng: random.Random, member: Member, day: float) -> None:
        login = day - rng.uniform(0.3, 0.95)
        hours = round(rng.uniform(0.3, 3.0), 2)
        member.hours = round(member.hours + hours, 2)
        member.recent.append((int(day), hours))
        member.last_login = login
        total = len(PATHS[member.paths[0]].missions)
        if not member.missions or member.missions[-1][1] is not None:
            return  # path complete: logs in and browses
        member.current_pct += rng.randint(15, 90)
        moment = login
        while member.current_pct >= 100:
            moment += rng.uniform(0.005, 0.05)
            started, _ = member.missions[-1]
            member.missions[-1] = (started, min(moment, day - 0.01))
            if len(member.missions) >= total:
                member.current_pct = 100
                return
            member.missions.append((min(moment + 0.001, day - 0.005), None))
            member.current_pct -= 100
        member.current_pct = min(member.current_pct, 99)

    # --- the reports ------------------------------------------------------------------

    def records(self, endpoint: str, epoch: int) -> list[dict[str, Any]]:
        """What ``endpoint`` answers at ``epoch`` (a fresh copy each call)."""
        builder = ENDPOINT_BUILDERS.get(endpoint)
        if builder is None:
            raise KeyError(endpoint)
        cached = self._records.get((epoch, endpoint))
        if cached is None:
            cached = builder(self.state(epoch))
            self._records[(epoch, endpoint)] = cached
        return [dict(row) for row in cached]  # rows are flat: a shallow copy is a deep one


def _members(state: TeamState) -> list[Member]:
    return [m for _, m in sorted(state.members.items()) if m.accepted is not None]


def _mission_status(member: Member) -> dict[str, tuple[float, float | None, int]]:
    """mission name -> (started, completed, progress_pct) for missions begun."""
    out: dict[str, tuple[float, float | None, int]] = {}
    path = PATHS[member.paths[0]]
    for (_, _, mission), (started, completed) in zip(path.missions, member.missions, strict=False):
        pct = 100 if completed is not None else member.current_pct
        out[mission] = (started, completed, pct)
    return out


def course_progress(state: TeamState) -> list[dict[str, Any]]:
    rows = []
    for member in _members(state):
        status = _mission_status(member)
        for path_index in member.paths:
            path = PATHS[path_index]
            for step, course in enumerate(path.courses, start=1):
                begun = [status[m] for m in course.missions if m in status]
                pct = sum(p for _, _, p in begun) / len(course.missions)
                done = len(begun) == len(course.missions) and all(c for _, c, _ in begun)
                rows.append(
                    {
                        "learner_name": member.name,
                        "email": member.email,
                        "last_login": _ts(member.last_login),
                        "path": path.name,
                        "step": step,
                        "course": course.name,
                        "language": path.language,
                        "dttm_course_started": _ts(min(s for s, _, _ in begun)) if begun else None,
                        "progress_pct": round(pct, 2),
                        "dttm_course_completed": (
                            _ts(max(c for _, c, _ in begun if c is not None)) if done else None
                        ),
                    }
                )
    return rows


def mission_progress(state: TeamState) -> list[dict[str, Any]]:
    rows = []
    for member in _members(state):
        status = _mission_status(member)
        for path_index in member.paths:
            path = PATHS[path_index]
            for step, course, mission in path.missions:
                if mission not in status:
                    continue
                started, completed, pct = status[mission]
                rows.append(
                    {
                        "learner_name": member.name,
                        "email": member.email,
                        "last_login": _ts(member.last_login),
                        "path": path.name,
                        "path_id": path.path_id,
                        "step": step,
                        "language": path.language,
                        "course_id": course.course_id,
                        "course": course.name,
                        "mission": mission,
                        "dttm_started_mission": _ts(started),
                        "progress_pct": pct,
                        "dttm_completed": _ts(completed),
                    }
                )
    return rows


def time_spent(state: TeamState) -> list[dict[str, Any]]:
    rows = []
    for member in _members(state):
        week = sum((h for d, h in member.recent if d > state.day - 7), 0.0)
        month = sum((h for d, h in member.recent if d > state.day - 30), 0.0)
        active = member.last_login is not None and member.last_login > state.day - 30
        rows.append(
            {
                "learner_name": member.name,
                "email": member.email,
                "has_license": member.has_license,
                "is_active_member": active,
                "all time: hours spent": round(member.hours, 2),
                "last 30 days: hours spent": round(month, 2),
                "last 7 days: hours spent": round(week, 2),
            }
        )
    return rows


def invitations_status(state: TeamState) -> list[dict[str, Any]]:
    rows = []
    for _, member in sorted(state.members.items()):
        rows.append(
            {
                "email": member.email,
                "learner_name": member.name if member.accepted is not None else None,
                "status": "Active" if member.accepted is not None else "Pending",
                "dttm_invited": _ts(member.invited),
                "dttm_accepted": _ts(member.accepted),
            }
        )
    return rows


def _ts(day: float | None) -> str | None:
    return None if day is None else timestamp(day)


ENDPOINT_BUILDERS = {
    "course_progress": course_progress,
    "mission_progress": mission_progress,
    "invitations_status": invitations_status,
    "time_spent": time_spent,
}
