"""Training: the chunked :class:`Trainer` (:mod:`.engine`) and the hand-written gradient it uses (:mod:`.fastgrad`).

>>> from realnvp.training import OptimConfig
>>> OptimConfig(lr=3e-3).lr
0.003
"""

from realnvp.training.engine import OPTIMIZERS, SCHEDULES, History, OptimConfig, Trainer

__all__ = ["OPTIMIZERS", "SCHEDULES", "History", "OptimConfig", "Trainer"]
