"""The reliability and security suite (issue #9).

Proves "nothing a person typed is ever lost, and the sheet always converges"
under faults, with figures:

- ``crash``: ``--once`` SIGKILLed at seeded moments, then a clean ``--once``;
- ``concurrent``: a person edits the sheet between the connector's read and write;
- ``faults``: the fault matrix (Dataquest and Google failures, expected exit
  code, message and sheet state);
- ``test_hostile``: hostile configs and report values, odd worksheet titles;
- ``test_secrets``: no secret in any output, narrow OAuth scope, TLS kept on.

The default pytest run does a few trials of each; ``pytest -m slow
tests/reliability`` and ``python -m tests.reliability`` run the full counts
(the latter prints the figures and writes ``tests/reliability/RESULTS.md``).
"""
