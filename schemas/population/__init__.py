"""Contract of the simulated National Population Database (WSDL + XSD)."""

from pathlib import Path

CONTRACT_DIR = Path(__file__).parent
WSDL_PATH = CONTRACT_DIR / "population.wsdl"
XSD_PATH = CONTRACT_DIR / "population.xsd"
NAMESPACE = "urn:lgsp:mock:population:1"
