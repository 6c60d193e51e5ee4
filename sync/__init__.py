"""dq-sheets-sync: keep spreadsheets in step with Dataquest Teams API reports.

The package is layered: ``config`` reads TOML, ``dataquest`` fetches reports,
``table`` types them, ``plan`` diffs them against a worksheet snapshot (pure),
``sheets`` backends do the I/O, ``engine`` wires one cycle, ``service`` runs
cycles on a schedule and ``cli`` is the only module that talks to the user.
"""

__version__ = "0.1.0"
