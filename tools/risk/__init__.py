"""Risk: the documented, versioned scorecard, stored assessments, adverse-action notices and
what-if simulation.

Other services may import ``ports``, ``models``, ``domain`` and the modules named in ``__all__``;
every other module is this service's own (``tests/test_layers.py`` holds it).
"""

__all__ = ["assessments", "domain", "models", "ports"]
