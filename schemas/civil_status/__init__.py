"""Contract of the simulated civil-status register of the Ministry of Justice (OpenAPI 3.1)."""

from pathlib import Path

CONTRACT_DIR = Path(__file__).parent
OPENAPI_PATH = CONTRACT_DIR / "openapi.yaml"
BASE_PATH = "/civil-status/v1"  # where the mock serves it
PROBLEM_TYPE_BASE = "urn:lgsp:mock:civil-status:problem:"  # + invalid-parameter, unauthorized, ...
EVENT_TYPES = ("KhaiSinh", "KetHon", "KhaiTu")  # birth, marriage, death
