"""Multi-scale RealNVP for images (Dinh, Sohl-Dickstein & Bengio, "Density estimation using Real NVP",
ICLR 2017).

The pieces, bottom up:

- :func:`squeeze` / :func:`unsqueeze` — trade each 2x2 spatial block for 4 channels, and back.
- :func:`checkerboard_mask` — the spatial checkerboard partition of a feature map.
- :class:`ResNetConditioner` — the s/t network: 3x3 convs in residual blocks, zero-initialised output
  conv, so a freshly built coupling is the identity.
- :class:`CheckerboardCoupling` / :class:`ChannelCoupling` — affine couplings ``y = x * exp(s) + t`` on one
  half of a checkerboard or channel partition, conditioned on the other half; ``log|det J| = sum(s)``.
- :class:`ImageActNorm` — per-channel affine normalisation (Glow) with data-dependent initialisation;
  ``y = (x + bias) * exp(log_scale)``, ``log|det J| = H * W * sum(log_scale)``. Not the vector flows'
  :class:`realnvp.norm.ActNorm`, which uses the opposite signs (see both docstrings).
- :class:`VariationalDequantizer` — an optional learned ``q(u | levels)`` (Flow++, Ho et al. 2019).
- Class-conditional flows (``ImageFlowConfig(n_classes=10)``): the label, one-hot and broadcast over the
  feature map, is an extra input of every coupling's conditioner; the base stays ``N(0, I)``, so each class has
  its own exact density ``p(x | y)`` and :meth:`ImageRealNVP.class_log_probs` gives all of them at once
  (Bayes' rule, :meth:`ImageRealNVP.log_prob_marginal`).
- :class:`ImageRealNVP` — dequantisation, logit preprocessing and the multi-scale stack: per scale,
  checkerboard couplings, squeeze, channel couplings, then half the channels are factored out to the base
  distribution; the last scale has checkerboard couplings only. :meth:`ImageRealNVP.encode` returns the list
  of per-scale latents, :meth:`ImageRealNVP.decode` inverts it exactly.

Units. Images are integer *levels* ``0..K-1`` (``K = 17`` for scikit-learn digits, 256 for MNIST and
photos). A level image becomes a point of ``[0, 1)^D`` by ``x = (level + u) / K`` with ``u ~ U[0, 1)^D``
(or ``u ~ q(u | level)``). The flow models a density ``p(x)`` on ``[0, 1)^D``; the probability of the
discrete image is the mass of its bin, ``P(level) = integral over the bin of p(x) dx``, and by Jensen's
inequality

    log P(level) >= E_u[ log p((level + u) / K) - log q(u | level) ] - D log K,

with ``log q = 0`` for uniform noise. :func:`bits_per_dim` reports ``-(that bound) / (D log 2)``: every
Jacobian term (logit preprocessing, couplings, ImageActNorm), the dequantisation density and the pixel scaling
``1/K`` each counted once. A model that is exactly uniform on ``[0, 1)^D`` scores ``log2 K`` (4.087
bits/dim for 17 levels).

Randomness is explicit: initial weights come from a generator seeded with ``ImageRealNVP(config, seed=...)``;
dequantisation noise, sampling and dropout masks take a ``torch.Generator`` (``None``: a fresh, non-deterministically
seeded one). Nothing here reads or seeds torch's process-wide generator.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from realnvp.coupling import fresh_generator, init_uniform_

__all__ = [
    "ImageFlowConfig",
    "ImageRealNVP",
    "ResNetConditioner",
    "Dropout",
    "CheckerboardCoupling",
    "ChannelCoupling",
    "ImageActNorm",
    "VariationalDequantizer",
    "squeeze",
    "unsqueeze",
    "checkerboard_mask",
    "standard_normal_logprob",
    "bits_per_dim",
    "dataset_bits_per_dim",
    "class_bits_per_dim",
    "marginal_bits_per_dim",
    "baseline_bits_per_dim",
    "round_trip",
    "interpolate",
    "resample_scale",
]

LOG_2PI = math.log(2.0 * math.pi)


# ---------------------------------------------------------------------------------------------- reshaping
def squeeze(x: Tensor) -> Tensor:
    """``(B, C, H, W) -> (B, 4C, H/2, W/2)``: each 2x2 block becomes 4 channels (a permutation, log-det 0).

    Channel ``4c + 2i + j`` of the output holds pixel ``(2h + i, 2w + j)`` of input channel ``c``.

    >>> squeeze(torch.arange(16.0).view(1, 1, 4, 4))[0, :, 0, 0]
    tensor([0., 1., 4., 5.])
    """
    b, c, h, w = x.shape
    if h % 2 or w % 2:
        raise ValueError(f"squeeze needs an even height and width, got {h}x{w}")
    x = x.reshape(b, c, h // 2, 2, w // 2, 2)
    return x.permute(0, 1, 3, 5, 2, 4).reshape(b, c * 4, h // 2, w // 2)


def unsqueeze(x: Tensor) -> Tensor:
    """Inverse of :func:`squeeze`: ``(B, 4C, H, W) -> (B, C, 2H, 2W)``.

    >>> x = torch.randn(2, 3, 4, 6)
    >>> torch.equal(unsqueeze(squeeze(x)), x)
    True
    """
    b, c, h, w = x.shape
    if c % 4:
        raise ValueError(f"unsqueeze needs a channel count divisible by 4, got {c}")
    x = x.reshape(b, c // 4, 2, 2, h, w)
    return x.permute(0, 1, 4, 2, 5, 3).reshape(b, c // 4, h * 2, w * 2)


def checkerboard_mask(height: int, width: int, parity: int = 0) -> Tensor:
    """A ``(1, 1, H, W)`` float mask, 1 where ``(row + col + parity)`` is even: the pixels that condition.

    >>> checkerboard_mask(2, 3)[0, 0]
    tensor([[1., 0., 1.],
            [0., 1., 0.]])
    """
    rows = torch.arange(height).view(-1, 1)
    cols = torch.arange(width).view(1, -1)
    return ((rows + cols + parity) % 2 == 0).float().view(1, 1, height, width)


def standard_normal_logprob(z: Tensor) -> Tensor:
    """Per-sample log density of ``z`` under ``N(0, I)``, summed over all non-batch dims.

    >>> standard_normal_logprob(torch.zeros(1, 2, 1, 1))
    tensor([-1.8379])
    """
    return -0.5 * (z.pow(2) + LOG_2PI).flatten(1).sum(1)


# ---------------------------------------------------------------------------------------------- layers
class Dropout(nn.Module):
    """Dropout whose masks are drawn from an explicit generator (``nn.Dropout`` draws from torch's global one).

    Set :attr:`generator` (:meth:`ImageRealNVP.set_dropout_generator` sets every one in a flow); ``None`` draws
    from a fresh, non-deterministically seeded generator. Identity in eval mode; no parameters, so the state
    dict is the same as with ``nn.Dropout``.

    >>> drop = Dropout(0.5)
    >>> drop.generator = torch.Generator().manual_seed(0)
    >>> y = drop(torch.ones(1000))
    >>> sorted(set(y.tolist())), drop.eval()(torch.ones(2)).tolist()
    ([0.0, 2.0], [1.0, 1.0])
    """

    def __init__(self, p: float = 0.0):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = float(p)
        self.generator: torch.Generator | None = None

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return x * 0.0
        if self.generator is None:
            self.generator = fresh_generator(x.device)
        keep = 1.0 - self.p
        g = self.generator
        if g.device == x.device:
            mask = torch.empty_like(x).bernoulli_(keep, generator=g)
        else:
            mask = torch.empty(x.shape, dtype=x.dtype).bernoulli_(keep, generator=g).to(x.device)
        return x * mask.mul_(1.0 / keep)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class ResNetConditioner(nn.Module):
    """A small ResNet that maps the conditioning half to the ``(s, t)`` of an affine coupling.

    ``conv3x3 -> n_blocks x [act, conv3x3, act, conv3x3 (+ skip)] -> act -> conv3x3`` with the last conv
    initialised to zero, so the coupling starts as the identity. Convs are weight-normalised (Salimans &
    Kingma 2016, as in the RealNVP paper) when ``weight_norm`` is true; no batch statistics are involved, so
    train and eval modes compute the same function and data-parallel replicas need no synchronised statistics.
    The convs get PyTorch's default initialisation, drawn from ``generator``.

    >>> net = ResNetConditioner(2, 4, hidden=8, n_blocks=1, generator=torch.Generator().manual_seed(0))
    >>> net(torch.randn(3, 2, 4, 4)).abs().max().item()
    0.0
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden: int = 32,
        n_blocks: int = 1,
        weight_norm: bool = True,
        dropout: float = 0.0,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        generator = generator if generator is not None else fresh_generator()

        def conv(cin: int, cout: int) -> nn.Module:
            layer = init_uniform_(nn.utils.skip_init(nn.Conv2d, cin, cout, 3, padding=1), generator)
            return nn.utils.parametrizations.weight_norm(layer) if weight_norm else layer

        self.inp = conv(in_channels, hidden)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.SiLU(), conv(hidden, hidden), nn.SiLU(), Dropout(dropout), conv(hidden, hidden))
            for _ in range(n_blocks)
        )
        self.out = nn.utils.skip_init(nn.Conv2d, hidden, out_channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor) -> Tensor:
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(h)
        return self.out(F.silu(h))


class _AffineCoupling(nn.Module):
    """Shared scale parameterisation: ``s = gain * tanh(raw)``, a per-channel learnable bound (init 1)."""

    def __init__(self, channels: int):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(1, channels, 1, 1))

    def _scale(self, raw: Tensor) -> Tensor:
        return self.gain * torch.tanh(raw)


def _with_context(h: Tensor, context: Tensor | None) -> Tensor:
    """Append a per-sample context vector ``(N, K)`` (a one-hot label) to a feature map as ``K`` constant planes."""
    if context is None:
        return h
    planes = context.to(h.dtype)[:, :, None, None].expand(-1, -1, h.shape[2], h.shape[3])
    return torch.cat([h, planes], dim=1)


class CheckerboardCoupling(_AffineCoupling):
    """Affine coupling on a spatial checkerboard: pixels with ``(row + col + parity)`` even condition.

    The conditioner sees the masked image and the mask itself (and, with ``n_classes > 0``, the one-hot label
    ``context`` as constant planes); ``y = x * exp(s) + t`` where ``s`` and ``t`` are zero on the conditioning
    pixels, so ``log|det J| = sum(s)``.

    >>> layer = CheckerboardCoupling(1, 4, 4, parity=0, hidden=8, n_blocks=1)
    >>> x = torch.randn(2, 1, 4, 4)
    >>> y, log_det = layer(x)
    >>> torch.allclose(layer.inverse(y)[0], x), log_det.shape
    (True, torch.Size([2]))
    """

    def __init__(
        self,
        channels: int,
        height: int,
        width: int,
        parity: int,
        hidden: int = 32,
        n_blocks: int = 1,
        weight_norm: bool = True,
        dropout: float = 0.0,
        generator: torch.Generator | None = None,
        n_classes: int = 0,
    ):
        super().__init__(channels)
        self.register_buffer("mask", checkerboard_mask(height, width, parity), persistent=False)
        self.net = ResNetConditioner(
            channels + 1 + n_classes, 2 * channels, hidden, n_blocks, weight_norm, dropout, generator
        )

    def _st(self, cond: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        inp = _with_context(torch.cat([cond, self.mask.expand(cond.shape[0], 1, -1, -1)], dim=1), context)
        raw, t = self.net(inp).chunk(2, dim=1)
        free = 1.0 - self.mask
        return self._scale(raw) * free, t * free

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        s, t = self._st(x * self.mask, context)
        return x * torch.exp(s) + t, s.flatten(1).sum(1)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        s, t = self._st(y * self.mask, context)
        return (y - t) * torch.exp(-s), -s.flatten(1).sum(1)


class ChannelCoupling(_AffineCoupling):
    """Affine coupling across channels: one half of the channels conditions the other (``parity``: which).

    >>> layer = ChannelCoupling(4, parity=1, hidden=8, n_blocks=1)
    >>> x = torch.randn(2, 4, 2, 2)
    >>> torch.allclose(layer.inverse(layer(x)[0])[0], x)
    True
    """

    def __init__(
        self,
        channels: int,
        parity: int,
        hidden: int = 32,
        n_blocks: int = 1,
        weight_norm: bool = True,
        dropout: float = 0.0,
        generator: torch.Generator | None = None,
        n_classes: int = 0,
    ):
        if channels % 2:
            raise ValueError(f"a channel coupling needs an even channel count, got {channels}")
        super().__init__(channels // 2)
        self.parity = parity
        self.net = ResNetConditioner(
            channels // 2 + n_classes, channels, hidden, n_blocks, weight_norm, dropout, generator
        )

    def _split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        a, b = x.chunk(2, dim=1)
        return (b, a) if self.parity else (a, b)

    def _merge(self, cond: Tensor, free: Tensor) -> Tensor:
        return torch.cat([free, cond] if self.parity else [cond, free], dim=1)

    def _st(self, cond: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        raw, t = self.net(_with_context(cond, context)).chunk(2, dim=1)
        return self._scale(raw), t

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        cond, free = self._split(x)
        s, t = self._st(cond, context)
        return self._merge(cond, free * torch.exp(s) + t), s.flatten(1).sum(1)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        cond, free = self._split(y)
        s, t = self._st(cond, context)
        return self._merge(cond, (free - t) * torch.exp(-s)), -s.flatten(1).sum(1)


class ImageActNorm(nn.Module):
    """Per-channel affine normalisation ``y = (x + bias) * exp(log_scale)`` (Kingma & Dhariwal, Glow, 2018).

    ``log|det J| = H * W * sum(log_scale)``. Starts as the identity; :meth:`ImageRealNVP.initialize` sets it
    from a batch (zero mean, unit variance per channel): an explicit call, not a side effect of ``forward``.

    Sign convention: Glow's, ``bias`` added and ``log_scale`` multiplying, so standardising a batch sets
    ``bias = -mean`` and ``log_scale = -log(std)``. The vector flows' :class:`realnvp.norm.ActNorm` is the other
    way round (``y = (x - loc) * exp(-log_scale)``, ``loc = mean``, ``log_scale = log(std)``). The two are kept
    as differently named classes rather than converted to one convention: the shipped image flows
    (``assets/flows/*/model.safetensors``) store ``bias``/``log_scale`` in this one and load as they are.

    >>> norm = ImageActNorm(3)
    >>> y, log_det = norm(torch.randn(2, 3, 4, 4))
    >>> log_det.tolist()
    [0.0, 0.0]
    """

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self._pending_init = False

    @torch.no_grad()
    def _init_from(self, x: Tensor) -> None:
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        std = x.std(dim=(0, 2, 3), keepdim=True)
        self.bias.copy_(-mean)
        self.log_scale.copy_(-torch.log(std + 1e-6))
        self._pending_init = False

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if self._pending_init:
            self._init_from(x)
        log_det = self.log_scale.sum() * (x.shape[2] * x.shape[3])
        return (x + self.bias) * torch.exp(self.log_scale), log_det.expand(x.shape[0])

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        log_det = -self.log_scale.sum() * (y.shape[2] * y.shape[3])
        return y * torch.exp(-self.log_scale) - self.bias, log_det.expand(y.shape[0])


class VariationalDequantizer(nn.Module):
    """A learned dequantisation density ``q(u | levels)`` on ``(0, 1)^D`` (after Flow++, Ho et al. 2019).

    ``u = sigmoid(mu + exp(log_sigma) * eps)``, ``eps ~ N(0, I)``, with ``mu, log_sigma`` from a small ResNet
    over the level image scaled to ``[-0.5, 0.5]``; returns ``u`` and ``log q(u | levels)`` (the change of
    variables through the affine map and the sigmoid). Used only for training and likelihood; sampling never
    needs it. ``generator`` draws the conditioner's initial weights; the noise ``eps`` comes from the generator
    passed to :meth:`forward` (``None``: a fresh, non-deterministically seeded one).

    >>> deq = VariationalDequantizer(1, n_levels=17, hidden=8, generator=torch.Generator().manual_seed(0))
    >>> u, log_q = deq(torch.randint(0, 17, (2, 1, 4, 4)), torch.Generator().manual_seed(0))
    >>> bool((u > 0).all() and (u < 1).all()), log_q.shape
    (True, torch.Size([2]))
    """

    def __init__(
        self,
        channels: int,
        n_levels: int,
        hidden: int = 16,
        n_blocks: int = 1,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        self.n_levels = n_levels
        self.net = ResNetConditioner(channels, 2 * channels, hidden, n_blocks, weight_norm=True, generator=generator)

    def forward(self, levels: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        cond = levels.to(self.net.out.weight.dtype) / (self.n_levels - 1) - 0.5
        mu, log_sigma = self.net(cond).chunk(2, dim=1)
        eps = _randn(levels.shape, generator, levels.device, mu.dtype)
        h = mu + torch.exp(log_sigma) * eps
        log_jac = (log_sigma + F.logsigmoid(h) + F.logsigmoid(-h)).flatten(1).sum(1)
        log_q = standard_normal_logprob(eps) - log_jac
        return torch.sigmoid(h), log_q


# ---------------------------------------------------------------------------------------------- the flow
@dataclass
class ImageFlowConfig:
    """Everything needed to rebuild an :class:`ImageRealNVP` (serialises to JSON with :meth:`to_dict`).

    ``n_scales`` scales; every scale but the last runs ``n_checker`` checkerboard couplings, a squeeze,
    ``n_channel`` channel couplings and factors out half its channels; the last runs ``n_final`` checkerboard
    couplings. Each coupling is preceded by an :class:`ImageActNorm`. ``alpha`` is the logit preprocessing margin:
    ``y = logit(alpha + (1 - 2 alpha) x)``. ``n_levels`` is the number of intensity levels of the data.
    ``n_classes > 0`` makes the flow class-conditional: every coupling's conditioner also sees the label.

    >>> ImageFlowConfig(channels=1, height=8, width=8, n_levels=17).latent_shapes()
    [(2, 4, 4), (2, 4, 4)]
    """

    channels: int = 1
    height: int = 8
    width: int = 8
    n_levels: int = 17
    n_scales: int = 2
    n_checker: int = 3
    n_channel: int = 3
    n_final: int = 4
    hidden: int = 32
    n_blocks: int = 1
    weight_norm: bool = True
    dropout: float = 0.0
    alpha: float = 0.05
    dequant: str = "uniform"
    dequant_hidden: int = 16
    n_classes: int = 0

    def __post_init__(self) -> None:
        if self.n_classes < 0 or self.n_classes == 1:
            raise ValueError(f"n_classes must be 0 (unconditional) or at least 2, got {self.n_classes}")
        if self.dequant not in ("uniform", "variational"):
            raise ValueError(f"dequant must be 'uniform' or 'variational', got {self.dequant!r}")
        if self.n_scales < 1:
            raise ValueError(f"n_scales must be >= 1, got {self.n_scales}")
        c, h, w = self.channels, self.height, self.width
        for scale in range(self.n_scales - 1):
            if h % 2 or w % 2:
                raise ValueError(f"scale {scale} is {h}x{w}: cannot squeeze an odd size; use fewer scales")
            c, h, w = c * 2, h // 2, w // 2
        if not 0.0 <= self.alpha < 0.5:
            raise ValueError(f"alpha must lie in [0, 0.5), got {self.alpha}")

    @property
    def dim(self) -> int:
        return self.channels * self.height * self.width

    def latent_shapes(self) -> list[tuple[int, int, int]]:
        """Shapes ``(C, H, W)`` of the per-scale latents, finest scale first."""
        shapes, c, h, w = [], self.channels, self.height, self.width
        for _ in range(self.n_scales - 1):
            c, h, w = c * 2, h // 2, w // 2
            shapes.append((c, h, w))
        shapes.append((c, h, w))
        return shapes

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ImageFlowConfig:
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown image-flow config keys {sorted(unknown)}; accepted: {sorted(known)}")
        return cls(**d)


class _Scale(nn.Module):
    """One scale: [ImageActNorm, checkerboard coupling] x n, then (unless last) squeeze + [ImageActNorm,
    channel coupling] x m."""

    def __init__(self, cfg: ImageFlowConfig, c: int, h: int, w: int, last: bool, generator: torch.Generator):
        super().__init__()
        kw = dict(
            hidden=cfg.hidden,
            n_blocks=cfg.n_blocks,
            weight_norm=cfg.weight_norm,
            dropout=cfg.dropout,
            generator=generator,
            n_classes=cfg.n_classes,
        )
        n_checker = cfg.n_final if last else cfg.n_checker
        self.checker = nn.ModuleList()
        for i in range(n_checker):
            self.checker.extend([ImageActNorm(c), CheckerboardCoupling(c, h, w, parity=i % 2, **kw)])
        self.last = last
        self.channel = nn.ModuleList()
        if not last:
            for i in range(cfg.n_channel):
                self.channel.extend([ImageActNorm(4 * c), ChannelCoupling(4 * c, parity=i % 2, **kw)])

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        log_det = x.new_zeros(x.shape[0])
        for layer in self.checker:
            x, ld = layer(x, context)
            log_det = log_det + ld
        if not self.last:
            x = squeeze(x)
            for layer in self.channel:
                x, ld = layer(x, context)
                log_det = log_det + ld
        return x, log_det

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        log_det = y.new_zeros(y.shape[0])
        if not self.last:
            for layer in reversed(self.channel):
                y, ld = layer.inverse(y, context)
                log_det = log_det + ld
            y = unsqueeze(y)
        for layer in reversed(self.checker):
            y, ld = layer.inverse(y, context)
            log_det = log_det + ld
        return y, log_det


class ImageRealNVP(nn.Module):
    """Multi-scale RealNVP over images in ``[0, 1)^(C x H x W)`` (Dinh et al. 2017, section 3.6).

    ``encode(x)`` maps an image to its list of per-scale latents (finest first; each ``N(0, I)`` under the
    model), ``decode(latents)`` inverts it exactly, ``log_prob(x)`` is the density on ``[0, 1)^D`` (logit
    preprocessing included), :meth:`bits_per_dim` the discrete-level likelihood bound and :meth:`sample`
    draws at a temperature.

    The initial weights are a function of ``config`` and ``seed`` alone (one generator seeded with ``seed`` draws
    them, layer by layer); that generator then keeps drawing the dropout masks unless
    :meth:`set_dropout_generator` gives another.

    A class-conditional flow (``config.n_classes > 0``) takes ``labels`` (ints ``0..n_classes-1``, one per image,
    or one int for all) in :meth:`forward`, :meth:`encode`, :meth:`decode`, :meth:`log_prob`,
    :meth:`bits_per_dim` and :meth:`sample`; :meth:`class_log_probs` scores an image under every class.

    >>> flow = ImageRealNVP(ImageFlowConfig(channels=1, height=8, width=8, n_levels=17, hidden=8))
    >>> x = torch.rand(2, 1, 8, 8)
    >>> [tuple(z.shape) for z in flow.encode(x)]
    [(2, 2, 4, 4), (2, 2, 4, 4)]
    >>> torch.allclose(flow.decode(flow.encode(x)), x, atol=1e-5)
    True
    """

    def __init__(self, config: ImageFlowConfig, *, seed: int = 0):
        super().__init__()
        self.config = config
        generator = torch.Generator().manual_seed(int(seed))
        c, h, w = config.channels, config.height, config.width
        self.scales = nn.ModuleList()
        for i in range(config.n_scales):
            last = i == config.n_scales - 1
            self.scales.append(_Scale(config, c, h, w, last, generator))
            if not last:
                c, h, w = c * 2, h // 2, w // 2  # squeeze gives 4c, half of it is factored out
        self.dequantizer = (
            VariationalDequantizer(config.channels, config.n_levels, config.dequant_hidden, generator=generator)
            if config.dequant == "variational"
            else None
        )
        self.set_dropout_generator(generator)

    def set_dropout_generator(self, generator: torch.Generator | None) -> None:
        """Draw every :class:`Dropout` mask of this flow from ``generator`` (put it on the device the flow runs on)."""
        for module in self.modules():
            if isinstance(module, Dropout):
                module.generator = generator

    # ---- preprocessing: [0, 1) <-> logit space
    def _to_logit(self, x: Tensor) -> tuple[Tensor, Tensor]:
        a = self.config.alpha
        p = a + (1.0 - 2.0 * a) * x
        y = torch.log(p) - torch.log1p(-p)
        log_det = (math.log(1.0 - 2.0 * a) - torch.log(p) - torch.log1p(-p)).flatten(1).sum(1)
        return y, log_det

    def _from_logit(self, y: Tensor) -> Tensor:
        a = self.config.alpha
        return (torch.sigmoid(y) - a) / (1.0 - 2.0 * a)

    @property
    def n_classes(self) -> int:
        """Number of classes the flow is conditioned on (0: unconditional)."""
        return self.config.n_classes

    def _context(self, labels: Tensor | int | None, n: int, like: Tensor) -> Tensor | None:
        """One-hot ``(n, n_classes)`` context from labels, with clear errors for a mismatch."""
        k = self.config.n_classes
        if k == 0:
            if labels is not None:
                raise ValueError("this flow is unconditional: it takes no labels")
            return None
        if labels is None:
            raise ValueError(f"this flow is class-conditional: pass labels (integers 0..{k - 1}), one per image")
        labels = torch.as_tensor(labels, device=like.device)
        if labels.dim() == 0:
            labels = labels.expand(n)
        if labels.shape != (n,):
            raise ValueError(f"expected {n} labels (one per image), got shape {tuple(labels.shape)}")
        if labels.is_floating_point() or bool(((labels < 0) | (labels >= k)).any()):
            raise ValueError(f"labels must be integers 0..{k - 1}, got {labels.unique().tolist()[:10]}")
        return F.one_hot(labels.long(), k).to(like.dtype)

    # ---- the bijection
    def forward(self, x: Tensor, labels: Tensor | int | None = None) -> tuple[list[Tensor], Tensor]:
        """``x`` in ``[0, 1)`` -> (per-scale latents, ``log|det d latents / d x|`` per sample)."""
        context = self._context(labels, x.shape[0], x)
        h, log_det = self._to_logit(x)
        latents = []
        for scale in self.scales:
            h, ld = scale(h, context)
            log_det = log_det + ld
            if not scale.last:
                half = h.shape[1] // 2
                latents.append(h[:, half:])
                h = h[:, :half]
        latents.append(h)
        return latents, log_det

    def encode(self, x: Tensor, labels: Tensor | int | None = None) -> list[Tensor]:
        """Per-scale latents of ``x`` (finest scale first); ``decode(encode(x)) == x`` to float precision."""
        return self.forward(x, labels)[0]

    def decode(self, latents: list[Tensor], labels: Tensor | int | None = None) -> Tensor:
        """Images in ``[0, 1]`` from a list of per-scale latents shaped like :meth:`encode`'s output."""
        shapes = self.config.latent_shapes()
        if len(latents) != len(shapes):
            raise ValueError(f"expected {len(shapes)} latent tensors (one per scale), got {len(latents)}")
        for z, shape in zip(latents, shapes, strict=True):
            if tuple(z.shape[1:]) != shape:
                raise ValueError(f"latent shape {tuple(z.shape[1:])} does not match the model's {shape}")
        h = latents[-1]
        context = self._context(labels, h.shape[0], h)
        for i in reversed(range(len(self.scales))):
            scale = self.scales[i]
            if not scale.last:
                h = torch.cat([h, latents[i]], dim=1)
            h, _ = scale.inverse(h, context)
        return self._from_logit(h)

    def log_prob(self, x: Tensor, labels: Tensor | int | None = None) -> Tensor:
        """``log p(x)`` (or ``log p(x | label)``) in nats per sample, the density on ``[0, 1)^D`` (all Jacobian
        terms included)."""
        latents, log_det = self.forward(x, labels)
        return sum(standard_normal_logprob(z) for z in latents) + log_det

    def class_log_probs(self, x: Tensor) -> Tensor:
        """``log p(x | y)`` for every class ``y``: shape ``(N, n_classes)`` (a class-conditional flow only)."""
        if self.config.n_classes == 0:
            raise ValueError("class_log_probs needs a class-conditional flow (n_classes > 0)")
        n, k = x.shape[0], self.config.n_classes
        repeated = x.repeat_interleave(k, dim=0)
        labels = torch.arange(k, device=x.device).repeat(n)
        return self.log_prob(repeated, labels).view(n, k)

    def log_prob_marginal(self, x: Tensor, prior: Tensor | None = None) -> Tensor:
        """``log p(x) = log sum_y prior(y) p(x | y)``: the class-conditional flow used as a mixture (uniform prior
        by default). For an unconditional flow this is :meth:`log_prob`."""
        if self.config.n_classes == 0:
            return self.log_prob(x)
        log_prior = _log_prior(prior, self.config.n_classes, x)
        return torch.logsumexp(self.class_log_probs(x) + log_prior, dim=1)

    def classify(self, x: Tensor, prior: Tensor | None = None) -> Tensor:
        """Posterior ``log p(y | x)`` over the classes by Bayes' rule, ``(N, n_classes)``; argmax is the label."""
        joint = self.class_log_probs(x) + _log_prior(prior, self.config.n_classes, x)
        return joint - torch.logsumexp(joint, dim=1, keepdim=True)

    # ---- data <-> likelihood
    def dequantize(self, levels: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Integer levels -> ``x = (level + u) / K`` and ``log q(u | level)`` per sample (0 if uniform)."""
        if self.dequantizer is None:
            dtype = next(self.parameters()).dtype
            if generator is None:
                generator = fresh_generator(levels.device)
            if generator.device != levels.device:
                u = torch.rand(levels.shape, generator=generator, dtype=dtype).to(levels.device)
            else:
                u = torch.rand(levels.shape, generator=generator, device=levels.device, dtype=dtype)
            log_q = torch.zeros(levels.shape[0], device=levels.device, dtype=dtype)
        else:
            u, log_q = self.dequantizer(levels, generator)
        return (levels.to(u.dtype) + u) / self.config.n_levels, log_q

    def bits_per_dim(
        self, levels: Tensor, generator: torch.Generator | None = None, labels: Tensor | int | None = None
    ) -> Tensor:
        """Per-sample upper bound on ``-log2 P(levels) / D`` (module docstring); one dequantisation draw.
        A class-conditional flow needs ``labels`` (``P(levels | label)``)."""
        x, log_q = self.dequantize(levels, generator)
        return bits_per_dim(self.log_prob(x, labels) - log_q, self.config.dim, self.config.n_levels)

    def quantize(self, x: Tensor) -> Tensor:
        """Images in ``[0, 1]`` -> integer levels ``0..K-1`` (the bin each value falls in)."""
        k = self.config.n_levels
        return (x * k).floor().clamp(0, k - 1).to(torch.uint8)

    # ---- sampling
    def sample_latents(
        self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> list[Tensor]:
        """Per-scale latents drawn from ``N(0, temperature^2 I)`` (``generator=None``: a fresh random one)."""
        device = next(self.parameters()).device
        if generator is None:
            generator = fresh_generator(device)
        return [
            temperature * _randn((n, *shape), generator, device, torch.get_default_dtype())
            for shape in self.config.latent_shapes()
        ]

    def sample(
        self,
        n: int,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        labels: Tensor | int | None = None,
    ) -> Tensor:
        """``n`` images in ``[0, 1]`` decoded from latents at the given temperature (of ``labels``' classes)."""
        return self.decode(self.sample_latents(n, temperature, generator), labels).clamp(0.0, 1.0)

    @torch.no_grad()
    def initialize(
        self, levels: Tensor, generator: torch.Generator | None = None, labels: Tensor | int | None = None
    ) -> None:
        """Data-dependent ImageActNorm initialisation: one pass over a batch, each one standardising its
        input."""
        for module in self.modules():
            if isinstance(module, ImageActNorm):
                module._pending_init = True
        x, _ = self.dequantize(levels, generator)
        self.forward(x, labels)


def _log_prior(prior: Tensor | None, n_classes: int, like: Tensor) -> Tensor:
    """``log prior`` as a ``(1, n_classes)`` row (uniform when ``prior`` is None); checks it sums to 1."""
    if prior is None:
        return torch.full((1, n_classes), -math.log(n_classes), dtype=like.dtype, device=like.device)
    prior = torch.as_tensor(prior, dtype=like.dtype, device=like.device).reshape(1, -1)
    if prior.shape[1] != n_classes or bool((prior < 0).any()) or abs(float(prior.sum()) - 1.0) > 1e-6:
        raise ValueError(f"prior must be {n_classes} non-negative class probabilities summing to 1")
    return torch.log(prior)


def _randn(shape, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype) -> Tensor:
    """Standard normal noise from ``generator`` (a fresh random one if None), drawn where it lives, put on ``device``."""
    if generator is None:
        generator = fresh_generator(device)
    if generator.device != torch.device(device):
        return torch.randn(shape, generator=generator, dtype=dtype).to(device)
    return torch.randn(shape, generator=generator, device=device, dtype=dtype)


# ---------------------------------------------------------------------------------------------- metrics
def bits_per_dim(log_density: Tensor, dim: int, n_levels: int) -> Tensor:
    """Bits/dim of discrete images from ``log p(x) - log q(u)`` on ``[0, 1)^D`` (nats per sample).

    ``-log2 P(level) / D ~= -(log p(x) - log q - D log K) / (D log 2)``: a density on ``[0, 1)^D`` with bins
    of width ``1/K``. A uniform density (``log p = 0``) gives ``log2 K``.

    >>> round(float(bits_per_dim(torch.zeros(1), 64, 17)[0]), 3)
    4.087
    """
    return -(log_density - dim * math.log(n_levels)) / (dim * math.log(2.0))


@torch.no_grad()
def dataset_bits_per_dim(
    model: ImageRealNVP,
    levels: np.ndarray | Tensor,
    seed: int = 0,
    batch_size: int = 250,
    labels: np.ndarray | Tensor | None = None,
) -> float:
    """Mean bits/dim of a whole split, deterministic: one dequantisation draw from a generator seeded.

    >>> flow = ImageRealNVP(ImageFlowConfig(hidden=4))
    >>> levels = np.full((3, 1, 8, 8), 8, dtype=np.uint8)
    >>> dataset_bits_per_dim(flow, levels) == dataset_bits_per_dim(flow, levels)
    True
    """
    levels = torch.as_tensor(np.asarray(levels))
    labels = None if labels is None else torch.as_tensor(np.asarray(labels))
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    was_training = model.training
    model.eval()
    total = 0.0
    for start in range(0, len(levels), batch_size):
        batch = levels[start : start + batch_size].to(device)
        batch_labels = None if labels is None else labels[start : start + batch_size].to(device)
        total += float(model.bits_per_dim(batch, generator, batch_labels).double().sum())
    model.train(was_training)
    return total / len(levels)


@torch.no_grad()
def class_bits_per_dim(
    model: ImageRealNVP, levels: np.ndarray | Tensor, seed: int = 0, batch_size: int = 50
) -> np.ndarray:
    """Bits/dim of every image under every class of a class-conditional flow: ``(N, n_classes)``.

    One dequantisation draw per image (seeded, shared by the classes), so rows compare the classes on equal
    terms: ``argmin`` over a row is the Bayes-rule label under a uniform prior, and
    :func:`marginal_bits_per_dim` turns the rows into the mixture's (label-free) bits/dim.

    >>> flow = ImageRealNVP(ImageFlowConfig(hidden=4, n_classes=3))
    >>> class_bits_per_dim(flow, np.full((2, 1, 8, 8), 8, dtype=np.uint8)).shape
    (2, 3)
    """
    levels = torch.as_tensor(np.asarray(levels))
    k, dim = model.config.n_classes, model.config.dim
    if k == 0:
        raise ValueError("class_bits_per_dim needs a class-conditional flow (n_classes > 0)")
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    was_training = model.training
    model.eval()
    rows = []
    for start in range(0, len(levels), batch_size):
        batch = levels[start : start + batch_size].to(device)
        x, log_q = model.dequantize(batch, generator)
        log_p = model.class_log_probs(x) - log_q[:, None]
        rows.append(bits_per_dim(log_p, dim, model.config.n_levels).double().cpu())
    model.train(was_training)
    return torch.cat(rows).numpy()


def marginal_bits_per_dim(class_bpd: np.ndarray, dim: int, prior: np.ndarray | None = None) -> np.ndarray:
    """Per-image bits/dim of the class mixture ``sum_y prior(y) P(x | y)`` from :func:`class_bits_per_dim`'s rows.

    >>> marginal_bits_per_dim(np.array([[1.0, 1.0]]), dim=64).round(4).tolist()  # two equal classes: no change
    [1.0]
    """
    class_bpd = np.asarray(class_bpd, dtype=np.float64)
    k = class_bpd.shape[1]
    prior = np.full(k, 1.0 / k) if prior is None else np.asarray(prior, dtype=np.float64)
    log_joint = -class_bpd * dim * math.log(2.0) + np.log(prior)[None, :]
    peak = log_joint.max(axis=1, keepdims=True)
    log_marginal = (peak + np.log(np.exp(log_joint - peak).sum(axis=1, keepdims=True)))[:, 0]
    return -log_marginal / (dim * math.log(2.0))


def baseline_bits_per_dim(train: np.ndarray, test: np.ndarray, n_levels: int, smoothing: float = 0.5) -> dict:
    """Two reference points on one split: uniform over ``K`` levels, and an independent per-pixel categorical.

    The categorical is fitted on ``train`` with ``smoothing`` pseudo-counts per level (0.5: the
    Krichevsky-Trofimov / Jeffreys estimate) and scored on ``test`` as ``-mean log2 P(level)``.

    >>> train = np.array([[0, 1], [0, 1]]); test = np.array([[0, 1]])
    >>> b = baseline_bits_per_dim(train, test, 2)
    >>> b["uniform"], round(b["categorical"], 3)
    (1.0, 0.263)
    """
    train = np.asarray(train).reshape(len(train), -1).astype(np.int64)
    test = np.asarray(test).reshape(len(test), -1).astype(np.int64)
    d = train.shape[1]
    counts = np.full((d, n_levels), smoothing, dtype=np.float64)
    np.add.at(counts, (np.broadcast_to(np.arange(d), train.shape), train), 1.0)
    log_p = np.log2(counts / counts.sum(1, keepdims=True))
    categorical = -log_p[np.arange(d)[None, :], test].mean()
    return {"uniform": float(math.log2(n_levels)), "categorical": float(categorical)}


# ---------------------------------------------------------------------------------------------- exploring
@torch.no_grad()
def round_trip(
    model: ImageRealNVP, levels: np.ndarray | Tensor, seed: int = 0, labels: np.ndarray | Tensor | int | None = None
) -> dict:
    """Encode held-out images (dequantised with a seeded draw), decode them back, measure the error.

    Returns ``x``, the reconstruction ``x_rec`` (both ``(N, C, H, W)`` in ``[0, 1)``), ``max_abs_error`` over
    all pixels, ``levels_equal`` (does the reconstruction fall in the original bins) and per-image ``bpd``.

    >>> flow = ImageRealNVP(ImageFlowConfig(hidden=4))
    >>> r = round_trip(flow, np.full((2, 1, 8, 8), 3, dtype=np.uint8))
    >>> r["max_abs_error"] < 1e-5, r["levels_equal"], r["bpd"].shape
    (True, True, (2,))
    """
    levels = torch.as_tensor(np.asarray(levels))
    generator = torch.Generator().manual_seed(seed)
    x, log_q = model.dequantize(levels, generator)
    labels = None if labels is None else torch.as_tensor(np.asarray(labels))
    latents, log_det = model.forward(x, labels)
    x_rec = model.decode(latents, labels)
    log_p = sum(standard_normal_logprob(z) for z in latents) + log_det
    bpd = bits_per_dim(log_p - log_q, model.config.dim, model.config.n_levels)
    return {
        "x": x,
        "x_rec": x_rec,
        "max_abs_error": float((x_rec - x).abs().max()),
        "levels_equal": bool(torch.equal(model.quantize(x_rec), levels.to(torch.uint8))),
        "bpd": bpd.numpy(),
    }


@torch.no_grad()
def interpolate(model: ImageRealNVP, xa: Tensor, xb: Tensor, steps: int = 8, label: int | None = None) -> Tensor:
    """Decode ``steps`` points on the straight line between the latents of two images ``(C, H, W)``.

    Every scale's latent is interpolated linearly; the ends reproduce ``xa`` and ``xb``.

    >>> flow = ImageRealNVP(ImageFlowConfig(hidden=4))
    >>> a, b = torch.full((1, 8, 8), 0.2), torch.full((1, 8, 8), 0.6)
    >>> path = interpolate(flow, a, b, steps=5)
    >>> path.shape, round(float(path[0].mean()), 4), round(float(path[-1].mean()), 4)
    (torch.Size([5, 1, 8, 8]), 0.2, 0.6)
    """
    za, zb = model.encode(xa[None], label), model.encode(xb[None], label)
    t = torch.linspace(0.0, 1.0, steps).view(-1, 1, 1, 1)
    return model.decode([(1 - t) * a + t * b for a, b in zip(za, zb, strict=True)], label).clamp(0.0, 1.0)


@torch.no_grad()
def resample_scale(
    model: ImageRealNVP,
    x: Tensor,
    scale: int,
    n: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    label: int | None = None,
) -> Tensor:
    """``n`` variants of one image ``(C, H, W)``: redraw the latents of one scale, keep all others.

    Scale 0 is the finest (factored out first); the last index is the coarsest (the final scale's latents).

    >>> flow = ImageRealNVP(ImageFlowConfig(hidden=4))
    >>> resample_scale(flow, torch.rand(1, 8, 8), scale=1, n=3).shape
    torch.Size([3, 1, 8, 8])
    """
    latents = [z.expand(n, *z.shape[1:]).clone() for z in model.encode(x[None], label)]
    if not 0 <= scale < len(latents):
        raise ValueError(f"scale must be in 0..{len(latents) - 1}, got {scale}")
    latents[scale] = model.sample_latents(n, temperature, generator)[scale]
    return model.decode(latents, label).clamp(0.0, 1.0)
