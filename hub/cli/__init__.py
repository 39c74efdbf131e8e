"""The ``lgsp`` command (Typer), one module per command group.

app.py       the root: ``run``, ``airflow``, ``report``, ``status``, ``quarantine``, ``upgrade-db``;
             mounts the groups below and ``lgsp mocks`` (mocks.cli); ``main`` is the script's entry point
sync.py      ``lgsp sync``: one flow's stages, once, without Airflow (a declared SYSTEM[.STREAM], or a hub flow)
systems.py   ``lgsp systems``: check, list, test (a live probe, probe.py), schema of the declarations
outbox.py    ``lgsp outbox``: list, replay dead letters, deliver, push
sharing.py   ``lgsp agencies``, ``lgsp agreements``
audit.py     ``lgsp audit``: verify the ledger's hash chain, export it for auditors
api.py       ``lgsp api serve``
support.py   what every command shares: open the store, fail in one clear line, show others' text safely
"""
