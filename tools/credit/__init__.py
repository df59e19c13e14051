"""Credit: applications through their lifecycle, reviews and approval with maker-checker, KYC
documents, and the applicant's personal data (sealed on the way in, masked on the way out).

Other services may import ``ports``, ``models``, ``domain`` and the modules named in ``__all__``;
every other module is this service's own (``tests/test_layers.py`` holds it).
"""

__all__ = ["access", "domain", "lifecycle", "models", "personal_data", "ports"]
