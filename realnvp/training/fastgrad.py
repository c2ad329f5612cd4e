"""A hand-written backward pass for the common RealNVP training step, and flat parameter buffers.

For the small models of the Playground (batch 256, 2×64 conditioners) a training step is dominated by per-op
overhead, not arithmetic: autograd records ~250 graph nodes per step. :func:`nll_and_grad` computes the same loss
and writes the exact same gradients straight into ``param.grad`` with about half the operations and no graph.
It covers stacks of :class:`~realnvp.coupling.AffineCoupling` / :class:`~realnvp.coupling.AdditiveCoupling`
layers with ReLU MLP conditioners (any mask but ``random``, no normalisation layers); :func:`supports` says when.
Everything else uses autograd. ``tests/test_fastgrad.py`` checks the gradients against autograd in float64.

:func:`flatten_parameters` makes every parameter (and its gradient) a view into one contiguous buffer, so gradient
clipping and the optimiser each touch a single tensor.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from realnvp.coupling import AdditiveCoupling, AffineCoupling
from realnvp.flow import LOG_2PI, RealNVP

__all__ = ["supports", "nll_and_grad", "FlatParameters", "flatten_parameters", "FlatAdam"]

_threshold_backward = torch.ops.aten.threshold_backward


def supports(model: nn.Module) -> bool:
    """True when :func:`nll_and_grad` can compute this model's gradients by hand."""
    if not isinstance(model, RealNVP) or model.config.mask == "random":
        return False
    for layer in model.layers:
        if not isinstance(layer, AffineCoupling | AdditiveCoupling):
            return False
        if any(not isinstance(m, nn.Linear | nn.ReLU) for m in layer.net):
            return False
    return True


def _linears(layer: nn.Module) -> list[nn.Linear]:
    return [m for m in layer.net if isinstance(m, nn.Linear)]


@torch.no_grad()
def nll_and_grad(model: RealNVP, x: Tensor) -> Tensor:
    """Mean NLL of the batch ``x`` (as ``model.nll_loss``) with its gradient written into every ``param.grad``.

    Gradients are overwritten, not accumulated; every parameter must already have a ``.grad`` tensor.
    Constants are 0-dim tensors of ``x``'s dtype: a Python float in a tensor op costs an extra conversion op.
    """
    n = x.shape[0]
    a, b = model.split(x)
    inv_n = 1.0 / n
    inv_n_t = x.new_tensor(inv_n)
    one_t = x.new_tensor(1.0)
    bounds: dict[float, tuple[Tensor, Tensor]] = {}
    saved = []
    log_scales = []
    for layer in model.layers:
        cond, inp = (a, b) if layer.transform_b else (b, a)
        linears = _linears(layer)
        hidden = [cond]
        h = cond
        for lin in linears[:-1]:
            h = torch.addmm(lin.bias, h, lin.weight.t()).relu_()
            hidden.append(h)
        raw = torch.addmm(linears[-1].bias, h, linears[-1].weight.t())
        if isinstance(layer, AffineCoupling):
            d = layer.d_trans
            r, t = raw[:, :d], raw[:, d:]
            if layer.scale == "tanh":
                if layer.scale_bound not in bounds:
                    bounds[layer.scale_bound] = (x.new_tensor(layer.scale_bound), x.new_tensor(1.0 / layer.scale_bound))
                bound_t, inv_bound_t = bounds[layer.scale_bound]
                th = torch.tanh(r * inv_bound_t)
                s = th * bound_t
                ds_dr = torch.sub(one_t, th.square())
            elif layer.scale == "softplus":
                shifted = r + layer.softplus_offset
                s = torch.log(nn.functional.softplus(shifted).add_(layer.softplus_eps))
                ds_dr = torch.sigmoid(shifted).mul_(torch.exp(-s))
            else:
                s = r
                ds_dr = None
            exp_s = torch.exp(s)
            scaled = inp * exp_s
            out = scaled + t
            log_scales.append(s.sum())
            saved.append((linears, hidden, exp_s, scaled, ds_dr))
        else:
            out = inp + raw
            saved.append((linears, hidden, None, None, None))
        if layer.transform_b:
            b = out
        else:
            a = out
    sum_sq = a.square().sum() + b.square().sum()
    log_det_sum = torch.stack(log_scales).sum() if log_scales else sum_sq.new_zeros(())
    loss = 0.5 * sum_sq / n + 0.5 * model.dim * LOG_2PI - log_det_sum / n

    grad_a, grad_b = a * inv_n_t, b * inv_n_t
    for layer, (linears, hidden, exp_s, scaled, ds_dr) in zip(reversed(model.layers), reversed(saved), strict=True):
        grad_out, grad_cond = (grad_b, grad_a) if layer.transform_b else (grad_a, grad_b)
        if exp_s is not None:
            # out = inp * exp(s) + t:  d/d inp = exp(s);  d/ds = inp * exp(s) = scaled;  log-det adds -1/n per s.
            grad_inp = grad_out * exp_s
            grad_s = (grad_out * scaled).sub_(inv_n_t)
            if ds_dr is not None:
                grad_s.mul_(ds_dr)
            grad_raw = torch.cat([grad_s, grad_out], dim=1)
        else:
            grad_inp = grad_out
            grad_raw = grad_out
        g = grad_raw
        for j in range(len(linears) - 1, -1, -1):
            lin = linears[j]
            h_in = hidden[j]
            torch.mm(g.t(), h_in, out=lin.weight.grad)
            torch.sum(g, 0, out=lin.bias.grad)
            g = torch.mm(g, lin.weight)
            if j > 0:
                g = _threshold_backward(g, h_in, 0)
        grad_cond = grad_cond + g
        if layer.transform_b:
            grad_a, grad_b = grad_cond, grad_inp
        else:
            grad_a, grad_b = grad_inp, grad_cond
    return loss


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

    @torch.no_grad()
    def step(self) -> None:
        self.step_count += 1
        beta1, beta2 = self.betas
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
                )
                return
            except (RuntimeError, NotImplementedError):
                self._use_fused = False
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
