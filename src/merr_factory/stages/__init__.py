"""The pipeline's stages, one module each, on the contract in ``base`` (the registry of
all of them is ``merr_factory.registry``, so importing one stage loads only what it needs)."""
