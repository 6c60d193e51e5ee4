"""Plain-text renderings of cycle results for the terminal (no printing here)."""

from __future__ import annotations

from sync.engine import CycleResult

_HEAD = ("worksheet", "rows", "added", "updated", "missing", "seconds", "result")


def summary_table(cycle: CycleResult) -> str:
    """The table `--once`, `--dry-run` and `demo` print after a cycle."""
    rows: list[tuple[str, ...]] = [_HEAD]
    for r in cycle.results:
        c = r.counts
        has_counts = r.plan is not None
        rows.append(
            (
                r.title,
                str(c.rows) if has_counts else "-",
                str(c.added) if has_counts else "-",
                str(c.updated_rows) if has_counts else "-",
                str(c.missing) if has_counts else "-",
                f"{r.seconds:.1f}",
                _one_line(r.result_text),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEAD) - 1)]
    lines = []
    for row in rows:
        cells = [
            row[i].ljust(widths[i]) if i == 0 else row[i].rjust(widths[i])
            for i in range(len(widths))
        ]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def dry_run_details(cycle: CycleResult) -> str:
    """Per worksheet: what would change, with up to 10 sample changes."""
    out: list[str] = []
    for r in cycle.results:
        if r.plan is None:
            continue
        c = r.counts
        out.append(
            f"{r.title}: would add {c.added} rows, update {c.updated_cells} cells in "
            f"{c.updated_rows} rows, mark {c.newly_missing} rows missing"
            + (f", delete {c.deleted} rows" if c.deleted else "")
        )
        out.extend(f"  {line}" for line in r.plan.samples[:10])
    return "\n".join(out)


def _one_line(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
