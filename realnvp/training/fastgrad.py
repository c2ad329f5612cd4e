"""A hand-written backward pass for the common RealNVP training step, and flat parameter buffers.

For the small models of the Playground (batch 256, 2×64 conditioners) a training step is dominated by per-op
overhead, not arithmetic: autograd records ~250 graph nodes per step. :class:`FastGrad` computes the same loss as
``RealNVP.nll_loss`` and writes the same gradients straight into ``param.grad``, without a graph: everything it
needs (parameter views, their transposes, every activation and gradient buffer) is planned once per batch size, so
a step is a fixed list of ``addmm``/``mm``/elementwise calls into preallocated tensors (about 210 for the
benchmark's 8 couplings, none allocating). Activations are kept feature-major (``features × batch``), which suits
the narrow matrix products of 2-D data better than ``batch × features``. ``x`` must have the model's dtype and
device. Spline couplings (:mod:`realnvp.spline`) join the plan as two calls each: the spline's own forward (the
maths every other path uses) and its hand-written backward, on batch-major views of the plan's buffers; their
conditioners are differentiated here like the others'.

It covers exactly the configurations in :data:`CHECKED` (coupling, scale, mask, norm), built as
:class:`~realnvp.flow.RealNVP` builds them (ReLU MLP conditioners); :func:`supports` says yes to those and no to
anything else (other scales, layer types, random masks, normalisation layers), so the trainer falls back to
autograd. ``tests/lib/test_training.py`` checks every combination in :data:`CHECKED` against autograd on the shared
forward pass (``nll_loss``) in float64.

:func:`flatten_parameters` makes every parameter (and its gradient) a view into one contiguous buffer, so gradient
clipping and the optimiser each touch a single tensor; :class:`FlatAdam` steps it in one fused kernel.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from realnvp.coupling import MLP, AdditiveCoupling, AffineCoupling
from realnvp.flow import LOG_2PI, RealNVP
from realnvp.spline import SplineCoupling, _size_scale, _spline_backward, _spline_parts

__all__ = ["CHECKED", "supports", "FastGrad", "nll_and_grad", "FlatParameters", "flatten_parameters", "FlatAdam"]

# Every (coupling, scale, mask, norm) the hand-written gradient implements and is tested for. A new scale, mask or
# layer type is not here until its gradient is written and checked, so such a flow trains with autograd.
# (Additive and spline couplings have no scale; the config's scale string is carried but unused.) A spline
# coupling's conditioner is differentiated here, its spline by realnvp.spline's own hand-written backward.
CHECKED: frozenset[tuple[str, str, str, str]] = frozenset(
    {
        ("affine", "tanh", "alternate", "none"),
        ("affine", "tanh", "parity", "none"),
        ("affine", "softplus", "alternate", "none"),
        ("affine", "softplus", "parity", "none"),
        ("affine", "exp", "alternate", "none"),
        ("affine", "exp", "parity", "none"),
        ("additive", "tanh", "alternate", "none"),
        ("additive", "tanh", "parity", "none"),
        ("additive", "softplus", "alternate", "none"),
        ("additive", "softplus", "parity", "none"),
        ("additive", "exp", "alternate", "none"),
        ("additive", "exp", "parity", "none"),
        ("spline", "tanh", "alternate", "none"),
        ("spline", "tanh", "parity", "none"),
        ("spline", "softplus", "alternate", "none"),
        ("spline", "softplus", "parity", "none"),
        ("spline", "exp", "alternate", "none"),
        ("spline", "exp", "parity", "none"),
    }
)

_threshold_backward_ = torch.ops.aten.threshold_backward.grad_input  # relu's backward, written into a buffer


def _is_relu_mlp(net: nn.Module) -> bool:
    """``Linear (→ ReLU → Linear)*`` exactly, biases included: the conditioner :class:`FastGrad` differentiates."""
    modules = list(net)
    if type(net) is not MLP or len(modules) % 2 == 0:
        return False
    for i, m in enumerate(modules):
        wanted = nn.Linear if i % 2 == 0 else nn.ReLU
        if type(m) is not wanted or (wanted is nn.Linear and m.bias is None):
            return False
    return True


def supports(model: nn.Module) -> bool:
    """True when the model is a :class:`~realnvp.flow.RealNVP` whose configuration is in :data:`CHECKED` and whose
    layers are exactly what that configuration builds; anything else trains with autograd.

    >>> supports(RealNVP(2, 4)), supports(RealNVP(2, 4, norm="actnorm")), supports(RealNVP(4, 2, mask="random"))
    (True, False, False)
    >>> supports(RealNVP(2, 4, coupling="spline"))  # the conditioners here, the splines by realnvp.spline
    True
    """
    if type(model) is not RealNVP:
        return False
    config = model.config
    if (config.coupling, config.scale, config.mask, config.norm) not in CHECKED:
        return False
    expected = {"affine": AffineCoupling, "additive": AdditiveCoupling, "spline": SplineCoupling}[config.coupling]
    if len(model.layers) != config.n_layers:
        return False
    for layer in model.layers:
        if type(layer) is not expected or not _is_relu_mlp(layer.net):
            return False
        if expected is AffineCoupling and layer.scale != config.scale:
            return False
    return True


@dataclass
class _Linear:
    """One ``nn.Linear`` as the plan uses it: weight, its transpose and the bias as a column, and the grad views."""

    weight: Tensor
    weight_t: Tensor
    bias_col: Tensor
    grad_w: Tensor
    grad_b: Tensor

    @classmethod
    def of(cls, lin: nn.Linear) -> _Linear:
        if lin.weight.grad is None or lin.bias.grad is None:
            raise ValueError("every parameter needs a .grad tensor (e.g. from flatten_parameters) to write into")
        w, b = lin.weight.detach(), lin.bias.detach()
        return cls(w, w.t(), b.unsqueeze(1), lin.weight.grad, lin.bias.grad)


@dataclass
class _Coupling:
    """A coupling layer's fixed description: which half it transforms (the other conditions), how, its linears."""

    transform: str  # "a" or "b"
    cond: str
    affine: bool
    scale: str  # "tanh", "softplus", "exp" ("none" for additive and spline)
    d: int  # coordinates transformed
    linears: list[_Linear]
    constants: dict[str, Tensor]  # 0-dim tensors: a Python float in a tensor op costs an extra conversion
    spline: SplineCoupling | None = None  # a spline layer (its bins, tail bound and minimum sizes)


@dataclass
class _Saved:
    """What the backward pass of one coupling reads: the forward's buffers and its own gradient buffers."""

    inp: Tensor
    inputs: list[Tensor]  # the input of every linear: the conditioning half, then each ReLU output
    graw: Tensor  # gradient of the conditioner's output ([d/ds; d/dt] for an affine layer)
    gout: Tensor  # gradient of the layer's output half (rows d: of graw for an affine layer)
    exp_s: Tensor | None = None
    th: Tensor | None = None  # tanh(r / bound)², for ds/dr = 1 - th²
    ds: Tensor | None = None  # softplus: ds/dr
    spline: tuple | None = None  # a spline layer's intermediates, from the forward to the backward of one step


@dataclass
class _Plan:
    """One batch size: the buffers and the whole step as a fixed list of calls into them."""

    xt: Tensor  # the batch, feature-major
    select: Tensor | None  # column order that puts half a first (None: it already is)
    x_sel: Tensor | None
    ops: list[Callable[[], object]]
    base: Tensor  # 0-dim: dim/2 log 2π + |z|² / 2n
    log_det: Tensor | None  # 0-dim: sum of every s or spline log|g'| (None with neither)
    inv_n: float


class FastGrad:
    """The hand-written loss and gradient of one :class:`~realnvp.flow.RealNVP` (:func:`supports` must say yes).

    ``fast(x)`` returns the batch's mean NLL (as ``model.nll_loss(x)``) and overwrites every ``param.grad``
    with its gradient; ``fast(x, out=t)`` writes the loss into the 0-dim tensor ``t`` instead. The first call for
    a batch size plans it: buffers for every activation and gradient, and the step as a list of calls with all
    arguments bound (no per-step Python bookkeeping, allocation or view creation). The plan holds views of the
    parameters and gradients as they are when :class:`FastGrad` is built: build a new one after re-flattening.

    >>> model = RealNVP(2, 4, (16,))
    >>> flat = flatten_parameters(model)
    >>> fast = FastGrad(model)
    >>> x = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
    >>> bool(torch.isclose(fast(x), model.nll_loss(x)))
    True
    """

    MAX_PLANS = 4  # plans kept, one per batch size seen

    def __init__(self, model: RealNVP):
        if not supports(model):
            raise ValueError("this model is not one the hand-written gradient covers (see fastgrad.CHECKED)")
        self.dim = model.dim
        self.dim_a = model.index_a.numel()
        index = torch.cat([model.index_a, model.index_b]).cpu()
        self._select = None if torch.equal(index, torch.arange(self.dim)) else index
        self.couplings: list[_Coupling] = []
        for layer in model.layers:
            linears = [_Linear.of(m) for m in layer.net if isinstance(m, nn.Linear)]
            affine = isinstance(layer, AffineCoupling)
            spline = layer if isinstance(layer, SplineCoupling) else None
            d = linears[-1].weight.shape[0] // (2 if affine else 3 * spline.bins - 1 if spline else 1)
            like = linears[-1].weight
            constants = {}
            if affine:
                constants = {
                    "bound": like.new_tensor(layer.scale_bound),
                    "inv_bound": like.new_tensor(1.0 / layer.scale_bound),
                    "offset": like.new_tensor(layer.softplus_offset),
                    "eps": like.new_tensor(layer.softplus_eps),
                    "zero": like.new_tensor(0.0),
                }
            transform, cond = ("b", "a") if layer.transform_b else ("a", "b")
            scale = layer.scale if affine else "none"
            self.couplings.append(_Coupling(transform, cond, affine, scale, d, linears, constants, spline))
        self._plans: dict[int, _Plan] = {}

    @torch.no_grad()
    def __call__(self, x: Tensor, out: Tensor | None = None) -> Tensor:
        plan = self._plans.get(x.shape[0])
        if plan is None:
            plan = self._plan(x)
        if plan.select is None:
            plan.xt.copy_(x.t())
        else:
            torch.index_select(x, 1, plan.select, out=plan.x_sel)
            plan.xt.copy_(plan.x_sel.t())
        for op in plan.ops:
            op()
        if plan.log_det is None:
            return plan.base.clone() if out is None else out.copy_(plan.base)
        if out is None:
            return torch.sub(plan.base, plan.log_det, alpha=plan.inv_n)
        return torch.sub(plan.base, plan.log_det, alpha=plan.inv_n, out=out)

    # -- planning -------------------------------------------------------------------------------------------------
    def _plan(self, x: Tensor) -> _Plan:
        """Buffers for a batch of ``len(x)`` and the step as a list of bound calls; kept for the next batches."""
        n = x.shape[0]

        def new(*shape: int) -> Tensor:
            return torch.empty(shape, dtype=x.dtype, device=x.device)

        ops: list[Callable[[], object]] = []

        def emit(fn: Callable[..., object], *args: object, **kwargs: object) -> None:
            ops.append(functools.partial(fn, *args, **kwargs))

        dim, dim_a = self.dim, self.dim_a
        xt = new(dim, n)
        select = None if self._select is None else self._select.to(x.device)
        x_sel = None if select is None else new(n, dim)
        state = {"a": xt[:dim_a], "b": xt[dim_a:]}  # the current (features × batch) tensor of each half
        n_scaled = sum(c.d for c in self.couplings if c.affine)
        s_all = new(n_scaled * n) if n_scaled else None  # every layer's s, to sum for the log-det in one call
        s_offset = 0
        n_splines = sum(c.spline is not None for c in self.couplings)
        spline_ld = new(n_splines) if n_splines else None  # each spline layer's sum of log|g'|
        spline_slots = iter(spline_ld.unbind() if n_splines else ())

        # forward: data -> latent
        saved: list[_Saved] = []
        for c in self.couplings:
            inp, h = state[c.transform], state[c.cond]
            inputs = [h]
            for lin in c.linears[:-1]:
                hidden = new(lin.weight.shape[0], n)
                emit(torch.addmm, lin.bias_col, lin.weight, h, out=hidden)
                emit(hidden.relu_)
                inputs.append(hidden)
                h = hidden
            last = c.linears[-1]
            raw = new(last.weight.shape[0], n)
            emit(torch.addmm, last.bias_col, last.weight, h, out=raw)
            out = new(c.d, n)
            graw = new(raw.shape[0], n)
            gout = graw[c.d :] if c.affine else new(c.d, n) if c.spline is not None else graw
            rec = _Saved(inp=inp, inputs=inputs, graw=graw, gout=gout)
            if c.affine:
                r, t = raw[: c.d], raw[c.d :]
                s = s_all[s_offset : s_offset + c.d * n].view(c.d, n)
                s_offset += c.d * n
                k = c.constants
                if c.scale == "tanh":  # s = bound * tanh(r / bound);  ds/dr = 1 - tanh²
                    rec.th = new(c.d, n)
                    emit(torch.mul, r, k["inv_bound"], out=rec.th)
                    emit(rec.th.tanh_)
                    emit(torch.mul, rec.th, k["bound"], out=s)
                    emit(rec.th.square_)
                elif c.scale == "softplus":  # s = log(softplus(r + offset) + eps);  ds/dr = sigmoid(r + offset) / e^s
                    shifted, softplus, rec.ds = new(c.d, n), new(c.d, n), new(c.d, n)
                    emit(torch.add, r, k["offset"], out=shifted)
                    emit(torch.logaddexp, shifted, k["zero"], out=softplus)
                    emit(softplus.add_, k["eps"])
                    emit(torch.log, softplus, out=s)
                    emit(torch.sigmoid, shifted, out=rec.ds)
                    emit(rec.ds.div_, softplus)
                else:  # exp: s = r
                    emit(s.copy_, r)
                rec.exp_s = new(c.d, n)
                emit(torch.exp, s, out=rec.exp_s)
                emit(torch.addcmul, t, inp, rec.exp_s, out=out)  # out = inp * exp(s) + t
            elif c.spline is not None:  # the spline's own maths (realnvp.spline), on batch-major views
                raw_view = raw.t().view(n, c.d, raw.shape[0] // c.d)
                emit(_spline_step, rec, c.spline, inp.t(), raw_view, out.t(), next(spline_slots))
            else:
                emit(torch.add, inp, raw, out=out)  # out = inp + t
            state[c.transform] = out
            saved.append(rec)

        # loss = dim/2 log 2π + |z|² / 2n - sum(s) / n   (the last subtraction happens in __call__)
        za, zb = state["a"].reshape(-1), state["b"].reshape(-1)
        sq_a, sq_b, base = new(), new(), new()
        emit(torch.dot, za, za, out=sq_a)
        emit(torch.dot, zb, zb, out=sq_b)
        emit(sq_a.add_, sq_b)
        emit(torch.add, x.new_tensor(0.5 * dim * LOG_2PI), sq_a, alpha=0.5 / n, out=base)
        log_det = None
        for terms in (s_all, spline_ld):
            if terms is not None and log_det is None:
                log_det = new()
                emit(torch.sum, terms, 0, out=log_det)
            elif terms is not None:  # (no flow RealNVP builds has both)
                emit(lambda total=log_det, more=terms: total.add_(more.sum()))

        # backward. Every coupling touches both halves, so a gradient made at layer k is read by layer k - 1:
        # as its output gradient (then it is written straight into that layer's ``gout``) or as its
        # conditioning gradient (a buffer of its own). Layer 0's input gradients are not needed at all.
        def destination(half: str, k: int) -> Tensor | None:
            if k == 0:
                return None
            if self.couplings[k - 1].transform == half:
                return saved[k - 1].gout
            return new(dim_a if half == "a" else dim - dim_a, n)

        inv_n, neg_inv_n, ones = x.new_tensor(1.0 / n), x.new_tensor(-1.0 / n), x.new_ones(n)
        grad: dict[str, Tensor] = {}  # where each half's current gradient is
        for half, z in (("a", state["a"]), ("b", state["b"])):
            grad[half] = destination(half, len(self.couplings))
            emit(torch.mul, z, inv_n, out=grad[half])  # d loss / dz = z / n
        shared: dict[tuple[int, int], Tensor] = {}  # hidden-gradient buffers, reused layer after layer
        for k in range(len(self.couplings) - 1, -1, -1):
            c, rec = self.couplings[k], saved[k]
            if grad[c.transform] is not rec.gout:
                emit(rec.gout.copy_, grad[c.transform])
            if c.affine:
                # out = inp * exp(s) + t:  d/d inp = exp(s);  d/ds = inp * exp(s);  the log-det adds -1/n per s
                g_inp = destination(c.transform, k)
                g_inp = g_inp if g_inp is not None else new(c.d, n)
                gs = rec.graw[: c.d]
                emit(torch.mul, rec.gout, rec.exp_s, out=g_inp)
                emit(torch.addcmul, neg_inv_n, g_inp, rec.inp, out=gs)
                if c.scale == "tanh":
                    emit(gs.addcmul_, gs, rec.th, value=-1.0)  # * (1 - tanh²)
                elif c.scale == "softplus":
                    emit(gs.mul_, rec.ds)
                grad[c.transform] = g_inp
            elif c.spline is not None:
                # the spline's backward gives the gradients of its input and of the conditioner's output; every
                # log|g'| enters the loss with weight -1/n
                g_inp = destination(c.transform, k)
                graw_view = rec.graw.t().view(n, c.d, rec.graw.shape[0] // c.d)
                g_inp_view = None if g_inp is None else g_inp.t()
                emit(
                    _spline_step_backward, rec, c.spline, rec.gout.t(), neg_inv_n.expand(n, c.d), g_inp_view, graw_view
                )
                grad[c.transform] = g_inp
            # an additive layer passes its output gradient to its input unchanged: grad[c.transform] stays gout
            g = rec.graw
            for j in range(len(c.linears) - 1, -1, -1):
                lin = c.linears[j]
                emit(torch.mm, g, rec.inputs[j].t(), out=lin.grad_w)
                emit(torch.mv, g, ones, out=lin.grad_b)  # the bias gradient: row sums (mv beats sum here)
                if j:
                    key = (j, rec.inputs[j].shape[0])
                    if key not in shared:
                        shared[key] = new(*rec.inputs[j].shape)
                    grad_in = shared[key]
                    emit(torch.mm, lin.weight_t, g, out=grad_in)
                    emit(_threshold_backward_, grad_in, rec.inputs[j], 0, grad_input=grad_in)  # relu'
                    g = grad_in
            target = destination(c.cond, k)
            if target is not None:
                emit(torch.addmm, grad[c.cond], c.linears[0].weight_t, g, out=target)
                grad[c.cond] = target

        if len(self._plans) >= self.MAX_PLANS:
            self._plans.pop(next(iter(self._plans)))
        plan = _Plan(xt, select, x_sel, ops, base, log_det, 1.0 / n)
        self._plans[n] = plan
        return plan


def _spline_step(rec: _Saved, layer: SplineCoupling, x: Tensor, raw: Tensor, out: Tensor, log_det: Tensor) -> None:
    """A spline layer's forward in a plan: ``out = g(x)`` and ``log_det = sum log|g'|``, intermediates kept."""
    y, log_abs, rec.spline = _spline_parts(
        x, raw, layer.bins, layer.tail_bound, False, layer.min_bin_size, layer.min_derivative, keep=True
    )
    out.copy_(y)
    torch.sum(log_abs, (0, 1), out=log_det)


def _spline_step_backward(
    rec: _Saved, layer: SplineCoupling, grad_y: Tensor, grad_log: Tensor, grad_x: Tensor | None, grad_raw: Tensor
) -> None:
    inv_c1 = 1.0 / _size_scale(layer.tail_bound, layer.min_bin_size, layer.bins)
    g_x, g_raw = _spline_backward(rec.spline, inv_c1, grad_y, grad_log)
    rec.spline = None
    if grad_x is not None:
        grad_x.copy_(g_x)
    grad_raw.copy_(g_raw)


def nll_and_grad(model: RealNVP, x: Tensor) -> Tensor:
    """Mean NLL of the batch ``x`` (as ``model.nll_loss``) with its gradient written into every ``param.grad``.

    Gradients are overwritten, not accumulated; every parameter must already have a ``.grad`` tensor. Plans a
    :class:`FastGrad` each call: keep one (as the trainer does) when stepping repeatedly.
    """
    return FastGrad(model)(x)


class FlatParameters:
    """All of a module's parameters and gradients as views into two contiguous buffers.

    ``flat.param`` is an ``nn.Parameter`` whose ``.grad`` is ``flat.grad``; give ``[flat.param]`` to an optimiser
    and it updates the whole model in one fused call. The module's own parameters stay usable (they are views), so
    ``model(x)`` and autograd work as before, accumulating into the shared gradient buffer.

    >>> model = nn.Linear(3, 2)
    >>> flat = flatten_parameters(model)
    >>> flat.param.numel(), torch.equal(flat.param[:6].view(2, 3), model.weight)
    (8, True)
    """

    def __init__(self, module: nn.Module):
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            raise ValueError("module has no trainable parameters")
        device, dtype = params[0].device, params[0].dtype
        total = sum(p.numel() for p in params)
        self.param = nn.Parameter(torch.empty(total, device=device, dtype=dtype))
        self.grad = torch.zeros(total, device=device, dtype=dtype)
        offset = 0
        with torch.no_grad():
            for p in params:
                k = p.numel()
                self.param[offset : offset + k].copy_(p.reshape(-1))
                p.data = self.param.data[offset : offset + k].view_as(p)
                p.grad = self.grad[offset : offset + k].view_as(p)
                offset += k
        self.param.grad = self.grad
        self.params = params

    def zero_grad(self) -> None:
        self.grad.zero_()

    def clip_grad_norm_(self, max_norm: float) -> Tensor:
        """Scale the gradient so its global L2 norm is at most ``max_norm``; returns the norm before clipping."""
        norm = torch.linalg.vector_norm(self.grad)
        self.grad.mul_(torch.clamp(max_norm / (norm + 1e-6), max=1.0))
        return norm


def flatten_parameters(module: nn.Module) -> FlatParameters:
    """See :class:`FlatParameters`."""
    return FlatParameters(module)


class FlatAdam:
    """Adam (or AdamW with ``weight_decay``) over a single flat parameter, in one fused kernel per step.

    Same update as ``torch.optim.Adam(..., fused=True)`` without its per-step Python bookkeeping; ``lr`` may be
    changed between steps. Falls back to plain tensor ops where the fused kernel is unavailable.
    ``step(max_grad_norm=c)`` first clips the gradient to global L2 norm ``c`` (as
    :meth:`FlatParameters.clip_grad_norm_`), folded into the fused kernel as its gradient divisor.

    >>> p = nn.Parameter(torch.ones(3)); p.grad = torch.ones(3)
    >>> opt = FlatAdam(p, lr=0.1)
    >>> opt.step(); p.detach()
    tensor([0.9000, 0.9000, 0.9000])
    """

    def __init__(self, param: Tensor, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay=0.0):
        self.param = param
        self.lr = float(lr)
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        self.exp_avg = torch.zeros_like(param, memory_format=torch.contiguous_format).detach()
        self.exp_avg_sq = torch.zeros_like(self.exp_avg)
        self.step_count = torch.zeros((), dtype=torch.float32, device=param.device)
        self._fused = torch._fused_adamw_ if self.weight_decay else torch._fused_adam_
        self._use_fused = param.device.type in ("cpu", "cuda", "mps")
        self._clip_eps = torch.zeros((), dtype=torch.float32, device=param.device)  # 1e-6 / max_grad_norm
        self._clip_for = 0.0

    @torch.no_grad()
    def step(self, max_grad_norm: float = 0.0) -> None:
        """One Adam step; with ``max_grad_norm > 0`` the gradient is clipped to that global norm first."""
        self.step_count += 1
        beta1, beta2 = self.betas
        grad_scale = None
        if max_grad_norm > 0:
            # clip coefficient min(1, c / (|g| + 1e-6)) as a divisor: max(1, |g| / c + 1e-6 / c)
            if self._clip_for != max_grad_norm:
                self._clip_eps.fill_(1e-6 / max_grad_norm)
                self._clip_for = max_grad_norm
            norm = torch.linalg.vector_norm(self.param.grad)
            if norm.dtype != torch.float32:
                norm = norm.float()
            grad_scale = torch.add(self._clip_eps, norm, alpha=1.0 / max_grad_norm).clamp_min_(1.0)
        if self._use_fused:
            try:
                self._fused(
                    [self.param.data],
                    [self.param.grad],
                    [self.exp_avg],
                    [self.exp_avg_sq],
                    [],
                    [self.step_count],
                    amsgrad=False,
                    lr=self.lr,
                    beta1=beta1,
                    beta2=beta2,
                    weight_decay=self.weight_decay,
                    eps=self.eps,
                    maximize=False,
                    grad_scale=grad_scale,
                )
                return
            except (RuntimeError, NotImplementedError):
                self._use_fused = False
        if grad_scale is not None:
            self.param.grad.div_(grad_scale.to(self.param.grad.dtype))
        self._step_unfused()

    def _step_unfused(self) -> None:
        beta1, beta2 = self.betas
        step = float(self.step_count)
        p, g = self.param.data, self.param.grad
        if self.weight_decay:
            p.mul_(1 - self.lr * self.weight_decay)
        self.exp_avg.lerp_(g, 1 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        denom = (self.exp_avg_sq.sqrt() / math.sqrt(1 - beta2**step)).add_(self.eps)
        p.addcdiv_(self.exp_avg, denom, value=-self.lr / (1 - beta1**step))

    def state_tensors(self) -> dict[str, Tensor]:
        return {"exp_avg": self.exp_avg, "exp_avg_sq": self.exp_avg_sq, "step": self.step_count}
