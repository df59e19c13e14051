"""An Onasis-compatible gateway and registry on loopback: simulated payment vendors whose outcome is
chosen per request, signed webhooks back to the platform, SMS/email capture, and the registry routes.
No real money moves. See ``adapters.sandbox.server.Sandbox``."""

from adapters.sandbox.registry import RegistryState, build_registry_app
from adapters.sandbox.server import Sandbox, build_gateway_app
from adapters.sandbox.state import OUTCOMES

__all__ = ["OUTCOMES", "RegistryState", "Sandbox", "build_gateway_app", "build_registry_app"]
