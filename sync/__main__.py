"""``python -m sync`` runs the command-line interface."""

from sync.cli import main

raise SystemExit(main())
