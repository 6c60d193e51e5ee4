"""The command line: parse arguments, run a command, turn errors into advice.

This is the only module that prints for the user. Library code raises
``SyncError``s; ``main`` turns each into one clear message and the exit code
documented in README.md. No traceback unless ``--log-level debug``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TextIO

from sync import __version__, logs
from sync.errors import EX_CONFIG, EX_FAILED, EX_OK, EX_USAGE, ConfigError, SyncError

log = logging.getLogger(__name__)

COMMANDS = ("check", "demo", "sandbox")
LOG_LEVELS = ("debug", "info", "warning", "error")

_DESCRIPTION = """\
Keep Google Sheets (or a local .xlsx workbook) in step with Dataquest Teams API
reports, one worksheet per report, keyed by row, so the notes people type in
their own columns stay on the right row through every refresh.

commands:
  (none)      run as a service on the configured [schedule] (first cycle at start);
              with --once: one cycle, a summary table, then exit
  check       validate the config, reach both APIs, show what would be synced
  demo        try it with no credentials: a local stand-in API into a local .xlsx
  sandbox     serve the local stand-in of the Teams API in the foreground

Run `dq-sheets-sync COMMAND --help` for a command's options.
"""

_EPILOG = """\
config path: --config, else $DQ_SHEETS_SYNC_CONFIG, else ./config.toml
exit codes: 0 all worksheets synced; 1 a worksheet failed or was refused by a
guard; 2 usage error; 75 only transient failures (network, throttling, quota,
another writer); 78 configuration or credentials problem.
"""


def _common(parser: argparse.ArgumentParser, *, config: bool = True, level: str = "info") -> None:
    if config:
        parser.add_argument(
            "--config",
            metavar="PATH",
            help="config file (default: $DQ_SHEETS_SYNC_CONFIG, else ./config.toml)",
        )
    parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default=level,
        type=str.lower,
        help=f"how much to log on stderr (default: {level}; debug also shows tracebacks)",
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="log lines as text (default) or one JSON object per line",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dq-sheets-sync",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _common(parser)
    parser.add_argument("--once", action="store_true", help="run one cycle and exit")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="read and plan one cycle, print what would change, write nothing",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="apply even what a guard refuses (an empty report, too many missing rows)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        action="extend",
        metavar="TITLE",
        default=[],
        help="sync only these worksheets (by title)",
    )
    return parser


def build_command_parser(command: str) -> argparse.ArgumentParser:
    if command == "check":
        p = argparse.ArgumentParser(
            prog="dq-sheets-sync check",
            description="Validate the config, reach the Teams API and the spreadsheet, "
            "and show the service account and each worksheet's state. Writes no cell (write "
            "access to a Google spreadsheet is tested by saving its title unchanged).",
        )
        _common(p)
        return p
    if command == "demo":
        p = argparse.ArgumentParser(
            prog="dq-sheets-sync demo",
            description="Try it with no credentials: start the local stand-in of the Teams "
            "API and sync all four reports into DIR/dataquest-demo.xlsx. Run it again: the "
            "data moves on, your notes stay on their rows.",
        )
        p.add_argument("--dir", default=".", help="folder for the workbook (default: .)")
        _common(p, config=False, level="warning")
        return p
    p = argparse.ArgumentParser(
        prog="dq-sheets-sync sandbox",
        description="Serve the local stand-in of the Dataquest Teams API on 127.0.0.1 in "
        "the foreground (its key and team id are printed at start). Ctrl-C stops it.",
    )
    p.add_argument("--port", type=int, default=8765, help="port (default: 8765; 0 = any free)")
    p.add_argument("--learners", type=int, default=40, help="learners in the team (default: 40)")
    p.add_argument("--seed", type=int, default=1, help="seed of the generated data (default: 1)")
    _common(p, config=False)
    return p


def parse(argv: Sequence[str]) -> argparse.Namespace:
    if argv and argv[0] in COMMANDS:
        args = build_command_parser(argv[0]).parse_args(argv[1:])
        args.command = argv[0]
    else:
        args = build_parser().parse_args(argv)
        args.command = None
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parse(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code) if isinstance(exc.code, int) else EX_USAGE
    logs.setup(args.log_level, args.log_format)
    debug = args.log_level == "debug"
    try:
        return _dispatch(args, os.environ, sys.stdout)
    except SyncError as exc:
        if debug:
            log.debug("Failure:", exc_info=True)
        print(logs.scrub(explain(exc)), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one line, the traceback only at debug
        if debug:
            log.exception("Unexpected error")
        print(
            logs.scrub(
                f"Unexpected error: {type(exc).__name__}: {exc}. This is a bug in dq-sheets-sync; "
                "run again with --log-level debug for the traceback and report it."
            ),
            file=sys.stderr,
        )
        return EX_FAILED


def explain(exc: SyncError) -> str:
    """One clear message for an error that stopped a whole command."""
    if isinstance(exc, ConfigError):
        return f"Configuration problem in {exc}" if exc.source else f"Configuration problem: {exc}"
    return f"Error: {exc}"


def _dispatch(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    handlers: dict[str | None, Callable[[argparse.Namespace, Mapping[str, str], TextIO], int]] = {
        None: _run,
        "check": _check,
        "demo": _demo,
        "sandbox": _sandbox,
    }
    return handlers[args.command](args, env, out)


def _run(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    from sync.config import find_config_path, load_config
    from sync.runner import run_once

    config = load_config(find_config_path(args.config, env), env)
    for warning in config.warnings:
        log.warning("%s", warning)
    if args.once or args.dry_run:
        return run_once(config, out, force=args.force, dry_run=args.dry_run, only=args.only)
    from sync.service import run_service

    return run_service(config, config_arg=args.config, env=env, force=args.force, only=args.only)


def _check(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    from sync.config import find_config_path, load_config
    from sync.runner import check

    config = load_config(find_config_path(args.config, env), env)
    for warning in config.warnings:
        log.warning("%s", warning)
    return check(config, out)


def _demo(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    from sync.demo import run_demo

    return run_demo(args.dir, out)


def _sandbox(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    from sync.sandbox import serve

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port} is not a port number (0 to 65535)")
    if not 1 <= args.learners <= 1_000_000:
        raise ConfigError(f"--learners {args.learners} must be between 1 and 1000000")
    serve(args.port, args.learners, args.seed, out=out)
    return EX_OK


__all__ = ["main", "EX_CONFIG"]
