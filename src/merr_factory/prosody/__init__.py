"""How something is said: speech regions (VAD), prosodic features, and the tone they map to.

- ``vad``: silero-vad speech regions of a 16 kHz mono signal.
- ``features``: pitch, energy, speaking rate, pauses and voicing, as numbers.
- ``tone``: the documented, deterministic rules from those numbers to MERR's tone words.
"""
