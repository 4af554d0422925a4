"""modelcollapse: how fast models forget under recursive training.

Implements the processes and results of Suresh, Thangaraj and Khandavally, "Rate of Model
Collapse in Recursive Training" (AISTATS 2025, arXiv:2412.17646), with exact answers from
classical probability next to fast, vectorised simulation.
"""

__version__ = "0.1.0"

__all__ = ["SimulationResult", "simulate", "__version__"]


def __getattr__(name: str):
    # Lazy, so that ``import modelcollapse.theory`` does not load the simulation side.
    if name in ("simulate", "SimulationResult"):
        from modelcollapse import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'modelcollapse' has no attribute {name!r}")
