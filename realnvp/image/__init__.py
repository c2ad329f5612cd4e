"""Multi-scale image RealNVPs: the flow (:mod:`.flow`), image data (:mod:`.data`), the shipped flows
(:mod:`.catalog`) and their training command line (:mod:`.cli`).

>>> from realnvp.image import ImageFlowConfig, ImageRealNVP
>>> ImageFlowConfig(channels=1, height=8, width=8).latent_shapes()
[(2, 4, 4), (2, 4, 4)]
"""

from realnvp.image.flow import *  # noqa: F403
from realnvp.image.flow import __all__ as _flow_all

__all__ = list(_flow_all)
