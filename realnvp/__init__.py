"""realnvp — RealNVP normalizing flows: couplings, vector and image flows, 2-D data, training, checkpoints.

>>> from realnvp import RealNVP
>>> flow = RealNVP(2, n_layers=4)
>>> flow.sample(3).shape
torch.Size([3, 2])
"""

from realnvp.fit import PointsFit, fit_points
from realnvp.flow import FlowConfig, RealNVP, Trace

__all__ = ["FlowConfig", "RealNVP", "Trace", "fit_points", "PointsFit"]
