"""Contract of the simulated social insurance register (Vietnam Social Security, BHXH) (OpenAPI 3.1)."""

from pathlib import Path

CONTRACT_DIR = Path(__file__).parent
OPENAPI_PATH = CONTRACT_DIR / "openapi.yaml"
