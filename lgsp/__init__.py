"""The foundation every layer may import, and which imports none of the others.

    errors.py   the error tree, grouped by what the caller should do about it
    serving.py  an ASGI app served by uvicorn, in a thread or in the foreground (the hub's API, the mocks)
    options.py  a command's option values checked by the settings model that receives them

``connectors``, ``schemas``, ``quality``, ``hub`` and ``mocks`` all stand on it; it stands
on nothing of ours (an import-linter contract in pyproject.toml says so, and ``make lint``
checks it). What goes here is what two layers that may not know each other both need.
"""
