"""The run core: what decides, computes and keeps every (stage, sample) output.

The runner (``pipeline``), the planner (``planning``: is an output current?), the store and
its on-disk layout (``store``, ``records``, ``folders``, ``atomic``), the resume index and its
seals (``resume_index``), the plan memo (``plan_memo``), the compute host that runs one stage
on one sample in any worker (``compute``), the workspace (samples + labels + stages) and the
whole-set steps (``whole_set``).

May import: the foundations (``stage_data``, ``faults``, ``artifacts``, ...), ``inputs/``,
the stage contract (``stages.base``) and, in its upper modules (pipeline, planning, compute,
workspace), the registry and the executors. Never ``reports/`` or ``cli``. The layer of each
module is in docs/modules.md; ``tests/test_layers.py`` enforces it.
"""
