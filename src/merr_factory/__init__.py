"""merr-factory: build MERR-style multimodal emotion reasoning datasets from raw clips."""

__version__ = "0.1.0"
