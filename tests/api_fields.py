"""The Teams API fields the reference names for each report, in report order
(``../shared/reference/dataquest-teams-api.md``): what tests and benchmarks
expect a report to carry at least."""

from __future__ import annotations

KNOWN_FIELDS: dict[str, tuple[str, ...]] = {
    "course_progress": (
        "learner_name",
        "email",
        "last_login",
        "path",
        "step",
        "course",
        "language",
        "progress_pct",
    ),
    "mission_progress": (
        "learner_name",
        "email",
        "last_login",
        "path",
        "path_id",
        "step",
        "language",
        "course_id",
        "course",
        "mission",
        "dttm_started_mission",
        "progress_pct",
        "dttm_completed",
    ),
    "time_spent": ("email", "has_license", "is_active_member", "all time: hours spent"),
    "invitations_status": ("email", "status"),
}
