"""Contract of the simulated provincial household business registry (WSDL + XSD)."""

from pathlib import Path

CONTRACT_DIR = Path(__file__).parent
WSDL_PATH = CONTRACT_DIR / "household_business.wsdl"
XSD_PATH = CONTRACT_DIR / "household_business.xsd"
NAMESPACE = "urn:lgsp:mock:household-business:v1"
