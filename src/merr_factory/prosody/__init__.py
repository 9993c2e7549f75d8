"""How something is said: speech regions (VAD), prosodic features, and the tone they map to.

- ``vad``: Silero VAD (ONNX) speech regions of a 16 kHz mono signal.
- ``features``: pitch (Praat), energy, speaking rate, pauses and voicing, as numbers.
- ``egemaps``: openSMILE's standard eGeMAPSv02 parameter set, stored for training.
- ``tone``: the documented, deterministic rules from those numbers to MERR's tone words.
"""
