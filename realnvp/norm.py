"""Invertible normalisation layers for vector flows, in the ``(a, b) -> (a', b', log_det)`` form of the couplings.

- :class:`ActNorm` — Glow's per-coordinate affine map, initialised from the first batch.
- :class:`BatchNormFlow` — batch normalisation as a flow layer (RealNVP, section 3.7).

Sign convention of :class:`ActNorm`: the data → latent direction is ``y = (x - loc) * exp(-log_scale)``, so
``log|det J| = -sum(log_scale)``. The image flows' :class:`realnvp.image.ImageActNorm` uses Glow's opposite signs
(``y = (x + bias) * exp(log_scale)``); the two are different classes on purpose (see their docstrings).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["NORMS", "ActNorm", "BatchNormFlow"]

NORMS = ("none", "actnorm", "batchnorm")


class ActNorm(nn.Module):
    """Per-coordinate affine map ``y = (x - loc) * exp(-log_scale)`` (Glow's ActNorm), data-initialised.

    On the first training batch ``loc``/``log_scale`` are set so the output has zero mean and unit variance
    (``loc = mean``, ``log_scale = log(std)``); afterwards they are ordinary parameters.
    ``log|det J| = -sum(log_scale)``, identical in train and eval.

    Sign convention: ``loc`` subtracted and ``exp(-log_scale)`` multiplying, the "standardise" reading. The image
    flows' :class:`realnvp.image.ImageActNorm` is Glow's ``y = (x + bias) * exp(log_scale)`` (so ``bias = -loc``
    and its ``log_scale`` is minus this one's); it keeps that convention and its own name because the shipped
    image weights are stored in it.

    >>> norm = ActNorm(1, 1)
    >>> a, b, log_det = norm(torch.randn(8, 1), torch.randn(8, 1))
    >>> log_det.shape
    torch.Size([8])
    """

    def __init__(self, dim_a: int, dim_b: int):
        super().__init__()
        self.loc_a = nn.Parameter(torch.zeros(dim_a))
        self.loc_b = nn.Parameter(torch.zeros(dim_b))
        self.log_scale_a = nn.Parameter(torch.zeros(dim_a))
        self.log_scale_b = nn.Parameter(torch.zeros(dim_b))
        self.register_buffer("initialised", torch.tensor(False))

    @torch.no_grad()
    def _initialise(self, a: Tensor, b: Tensor) -> None:
        for x, loc, log_scale in ((a, self.loc_a, self.log_scale_a), (b, self.loc_b, self.log_scale_b)):
            loc.copy_(x.mean(0))
            log_scale.copy_(torch.log(x.std(0).clamp_min(1e-3)))
        self.initialised.fill_(True)

    def _log_det(self, n: int, like: Tensor) -> Tensor:
        return (-(self.log_scale_a.sum() + self.log_scale_b.sum())).expand(n).to(like.dtype)

    def forward(self, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        if self.training and not bool(self.initialised) and a.shape[0] > 1:
            self._initialise(a, b)
        a = (a - self.loc_a) * torch.exp(-self.log_scale_a)
        b = (b - self.loc_b) * torch.exp(-self.log_scale_b)
        return a, b, self._log_det(a.shape[0], a)

    def inverse(self, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        a = a * torch.exp(self.log_scale_a) + self.loc_a
        b = b * torch.exp(self.log_scale_b) + self.loc_b
        return a, b, -self._log_det(a.shape[0], a)


class BatchNormFlow(nn.Module):
    """Batch normalisation as an invertible flow layer (RealNVP, Dinh et al. 2017, section 3.7).

    Training mode normalises with the batch's mean and variance (so the log-det depends on the batch, and is the
    exact log-det of that map); evaluation mode uses running averages, a fixed affine map. Both are followed by a
    learnable per-coordinate ``exp(log_gamma)`` scale and ``beta`` shift.
    ``log|det J| = sum(log_gamma - 0.5 * log(var + eps))``.

    >>> norm = BatchNormFlow(1, 1).eval()
    >>> a, b = torch.randn(4, 1), torch.randn(4, 1)
    >>> torch.allclose(norm.inverse(*norm(a, b)[:2])[0], a, atol=1e-6)
    True
    """

    def __init__(self, dim_a: int, dim_b: int, momentum: float = 0.05, eps: float = 1e-4):
        super().__init__()
        self.momentum = momentum
        self.eps = eps
        dim = dim_a + dim_b
        self.dim_a = dim_a
        self.log_gamma = nn.Parameter(torch.zeros(dim))
        self.beta = nn.Parameter(torch.zeros(dim))
        self.register_buffer("running_mean", torch.zeros(dim))
        self.register_buffer("running_var", torch.ones(dim))

    def _stats(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.training and x.shape[0] > 1:
            mean = x.mean(0)
            var = x.var(0, unbiased=False)
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach(), self.momentum)
                self.running_var.lerp_(var.detach(), self.momentum)
            return mean, var
        return self.running_mean, self.running_var

    def forward(self, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x = torch.cat([a, b], dim=1)
        mean, var = self._stats(x)
        inv_std = torch.rsqrt(var + self.eps)
        y = (x - mean) * inv_std * torch.exp(self.log_gamma) + self.beta
        log_det = (self.log_gamma + torch.log(inv_std)).sum().expand(x.shape[0])
        return y[:, : self.dim_a], y[:, self.dim_a :], log_det

    def inverse(self, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        y = torch.cat([a, b], dim=1)
        mean, var = self.running_mean, self.running_var
        std = torch.sqrt(var + self.eps)
        x = (y - self.beta) * torch.exp(-self.log_gamma) * std + mean
        log_det = -(self.log_gamma - torch.log(std)).sum().expand(y.shape[0])
        return x[:, : self.dim_a], x[:, self.dim_a :], log_det
