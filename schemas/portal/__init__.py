"""Contract of the simulated National Public Service Portal (OpenAPI 3.1).

Statuses and their order are the one-stop system's (`schemas.one_stop.STATUS_ORDER`):
the portal accepts a status only if it may follow the one it holds.
"""

from pathlib import Path

CONTRACT_DIR = Path(__file__).parent
OPENAPI_PATH = CONTRACT_DIR / "openapi.yaml"
