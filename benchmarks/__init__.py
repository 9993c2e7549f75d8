"""The benchmark of merr-factory: how fast the pipeline is, each figure against its goal.

It lives beside the package, not in it: it reads the repository's sample clips, sample
config and scripts, which an installed package does not have. Run it from a checkout:

    python -m benchmarks --help          # the whole benchmark (make bench), ~40 minutes
    python -m benchmarks.audio           # one area alone (make bench-audio); also .faces
                                         # (make bench-faces), .llm, .export and .remote
    python -m benchmarks.gpu --smoke     # the GPU stages on one GPU (without --smoke: on a
                                         # GPU machine, ~5 minutes; --smoke: the CPU, tiny)

``suite.py`` runs the parts and prints the goals table (``goals.py``) first; the parts are
``throughput.py``, ``frames.py`` (which runs ``faces.py``'s measuring children), ``llm.py``
with ``layout.py``, ``schedule.py`` and ``scale.py``. What they share (the repository's
paths, the replicated clips, the config, the child that reports its peak memory) is in
``common.py``, which imports no part.
"""
