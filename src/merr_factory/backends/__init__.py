"""Model backends, one package per kind (asr, tone, ...), one module per model family."""
