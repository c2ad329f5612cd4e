"""The training engine: a :class:`Trainer` that advances a flow in small chunks so a UI can draw in between.

    trainer = Trainer.for_dataset("moons", noise=0.1, n_points=10_000, seed=0)
    while not done:
        trainer.step(50)                      # returns promptly
        nll = trainer.evaluate()              # held-out NLL in the data's own units (nats)

The trainer owns the model, the optimiser, the (standardised) data and the history. The same seed and
configuration give identical losses. Learning rate and batch size can change between chunks. A NaN/Inf guard
restores the last good weights, lowers the learning rate and records a human-readable event instead of raising.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from realnvp import datasets
from realnvp.flow import FlowConfig, RealNVP
from realnvp.training.fastgrad import FastGrad, FlatAdam, flatten_parameters, supports

__all__ = ["OptimConfig", "History", "Trainer", "OPTIMIZERS", "SCHEDULES"]

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "ramp")  # ramp: linear warm-up to lr over total_steps, then constant
SNAPSHOT_EVERY = 50  # steps between "last good state" snapshots (and the finiteness check)


@dataclass(frozen=True)
class OptimConfig:
    """How a :class:`Trainer` optimises: optimiser, learning rate (schedule), batch size and gradient clipping.

    >>> OptimConfig(lr=3e-3).batch_size
    256
    """

    optimizer: str = "adam"
    lr: float = 1e-3
    batch_size: int = 256
    grad_clip: float = 1.0
    weight_decay: float = 0.0
    schedule: str = "constant"
    total_steps: int = 0  # the cosine schedule's length (0: no decay)
    min_lr_ratio: float = 0.02

    def __post_init__(self) -> None:
        problems = []
        if self.optimizer not in OPTIMIZERS:
            problems.append(f"optimizer {self.optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            problems.append(f"schedule {self.schedule!r} is not one of {', '.join(SCHEDULES)}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            problems.append(f"lr must be a positive number (got {self.lr!r})")
        if not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            problems.append(f"batch_size must be a positive integer (got {self.batch_size!r})")
        if not self.grad_clip >= 0:
            problems.append(f"grad_clip must be >= 0, 0 meaning no clipping (got {self.grad_clip!r})")
        if problems:
            raise ValueError("invalid optimiser configuration: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class History:
    """What happened so far. NLLs are in nats, in the data's original units."""

    steps: list[int] = field(default_factory=list)
    train_nll: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    heldout_nll: list[float] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    def truncate(self, step: int) -> None:
        """Forget everything recorded after ``step`` (used when the guard rewinds)."""
        keep = np.searchsorted(self.steps, step, side="right")
        del self.steps[keep:], self.train_nll[keep:]
        keep = np.searchsorted(self.eval_steps, step, side="right")
        del self.eval_steps[keep:], self.heldout_nll[keep:]


class Trainer:
    """Owns a :class:`~realnvp.flow.RealNVP`, its optimiser, the data and the history; advances in chunks.

    ``train`` and ``heldout`` are point clouds in the data's own units; both are standardised with statistics
    of ``train`` and every NLL the trainer reports has the standardisation's log-Jacobian added back.
    ``standardizer=`` passes a pre-fitted map instead (e.g. a full-covariance whitening); ``dequantize=`` gives
    per-column widths ``h`` (data units) of uniform noise ``U(-h/2, h/2)`` added afresh to every training batch.

    >>> trainer = Trainer.for_dataset("moons", noise=0.1, n_points=1000, seed=0, flow=FlowConfig(n_layers=2))
    >>> trainer.step(5)
    5
    >>> trainer.history.steps[-1], math.isfinite(trainer.evaluate())
    (5, True)
    """

    def __init__(
        self,
        train: np.ndarray,
        heldout: np.ndarray,
        flow: FlowConfig | None = None,
        optim: OptimConfig | None = None,
        *,
        seed: int = 0,
        device: str | torch.device = "cpu",
        entropy: float | None = None,
        name: str = "points",
        standardizer: datasets.Standardizer | None = None,
        dequantize: Any = None,
    ):
        flow = flow or FlowConfig(dim=int(np.asarray(train).shape[1]))
        self.optim = optim or OptimConfig()
        train = np.asarray(train, dtype=np.float64)
        heldout = np.asarray(heldout, dtype=np.float64)
        if train.ndim != 2 or train.shape[1] != flow.dim:
            raise ValueError(f"train points must have shape (n, {flow.dim}), got {train.shape}")
        if heldout.ndim != 2 or heldout.shape[1] != flow.dim or len(heldout) == 0:
            raise ValueError(f"held-out points must have shape (m, {flow.dim}) with m >= 1, got {heldout.shape}")
        self.name = name
        self.seed = int(seed)
        self.entropy = entropy
        # what builds a twin of this trainer in another process (see blueprint / export_state)
        self._blueprint = {
            "train": train,
            "heldout": heldout,
            "flow": flow,
            "optim": self.optim,
            "seed": self.seed,
            "entropy": entropy,
            "name": name,
            "standardizer": standardizer,
            "dequantize": dequantize,
        }
        self.device = torch.device(device)
        # ``standardizer``: a pre-fitted map (e.g. a full whitening, Standardizer.whitening) instead of fitting one.
        self.standardizer = standardizer if standardizer is not None else datasets.Standardizer.fit(train)
        self.train_points = train
        self.heldout_points = heldout
        dtype = torch.float32
        self.x_train = torch.as_tensor(self.standardizer.transform(train), dtype=dtype, device=self.device)
        self.x_heldout = torch.as_tensor(self.standardizer.transform(heldout), dtype=dtype, device=self.device)
        # NLL in original units = NLL of standardised points − log|det| of the standardisation.
        self.nll_offset = -float(self.standardizer.log_abs_det)

        self.model = RealNVP.from_config(replace(flow, seed=self.seed)).to(self.device)
        self.model.train()
        self.flat = flatten_parameters(self.model)
        self.optimizer = self._make_optimizer()
        self.use_manual_backward = supports(self.model)
        self._fastgrad: FastGrad | None = None  # the hand-written gradient's plan, bound to ``_fastgrad_flat``
        self._fastgrad_flat = None
        self.generator = torch.Generator().manual_seed(self.seed)
        # ``dequantize``: per-column widths h (data units; 0 = none): each batch gets fresh U(-h/2, h/2) noise,
        # drawn from self.generator and mapped into model space by the standardisation's linear part.
        self._dequant: Tensor | None = None
        if dequantize is not None and np.any(np.asarray(dequantize, dtype=np.float64) > 0):
            widths = np.broadcast_to(np.asarray(dequantize, dtype=np.float64), (flow.dim,))
            noise_map = self.standardizer.transform(self.standardizer.mean + np.diag(widths))
            self._dequant = torch.as_tensor(noise_map, dtype=dtype, device=self.device)
        self._order = torch.empty(0, dtype=torch.long)
        self._cursor = 0
        self.step_count = 0
        self.history = History()
        self.last_step_time = 0.0  # seconds per step in the last chunk
        self._snapshot = self._take_snapshot()

    # -- construction --------------------------------------------------------------------------------------------
    @classmethod
    def for_dataset(
        cls,
        dataset: str = "moons",
        noise: float = 0.1,
        n_points: int = 10_000,
        seed: int = 0,
        flow: FlowConfig | None = None,
        optim: OptimConfig | None = None,
        *,
        heldout_points: int = 5_000,
        device: str | torch.device = "cpu",
    ) -> Trainer:
        """A trainer on a built-in 2-D dataset, with a fresh held-out sample and the dataset's true entropy."""
        train = datasets.make_points(dataset, n=n_points, noise=noise, seed=seed)
        heldout = datasets.make_points(dataset, n=heldout_points, noise=noise, seed=seed + 1_000_003)
        entropy = datasets.true_entropy(dataset, noise)
        return cls(train, heldout, flow, optim, seed=seed, device=device, entropy=entropy, name=dataset)

    def _make_optimizer(self):
        o = self.optim
        if o.optimizer == "sgd":
            return torch.optim.SGD([self.flat.param], lr=o.lr, momentum=0.9, weight_decay=o.weight_decay)
        weight_decay = o.weight_decay if o.optimizer == "adamw" else 0.0
        return FlatAdam(self.flat.param, lr=o.lr, weight_decay=weight_decay)

    def to(self, device: str | torch.device) -> Trainer:
        """Move the model, its optimiser state and the data to ``device``, keeping the run (e.g. GPU → CPU)."""
        device = torch.device(device)
        if device == self.device:
            return self
        opt_state = (
            {k: v.detach().to(device) for k, v in self.optimizer.state_tensors().items()}
            if isinstance(self.optimizer, FlatAdam)
            else None
        )
        self.model.to(device)
        self.flat = flatten_parameters(self.model)
        self.optimizer = self._make_optimizer()
        if opt_state is not None:
            for k, v in self.optimizer.state_tensors().items():
                v.copy_(opt_state[k])
        self._apply_lr()
        self.device = device
        self.x_train = self.x_train.to(device)
        self.x_heldout = self.x_heldout.to(device)
        if self._dequant is not None:
            self._dequant = self._dequant.to(device)
        self._order = torch.empty(0, dtype=torch.long)  # reshuffle on the new device at the next batch
        self._cursor = 0
        self._snapshot = self._take_snapshot()
        return self

    # -- knobs that change mid-run -------------------------------------------------------------------------------
    @property
    def lr(self) -> float:
        return self.optim.lr

    def set_lr(self, lr: float) -> None:
        """Change the (base) learning rate; takes effect at the next step, nothing else is reset."""
        self.optim = replace(self.optim, lr=float(lr))
        self._apply_lr()

    def set_batch_size(self, batch_size: int) -> None:
        self.optim = replace(self.optim, batch_size=int(batch_size))

    def set_grad_clip(self, grad_clip: float) -> None:
        self.optim = replace(self.optim, grad_clip=float(grad_clip))

    def set_schedule(self, schedule: str, total_steps: int) -> None:
        """Switch the learning-rate schedule (``constant`` or ``cosine`` over ``total_steps`` from step 0)."""
        self.optim = replace(self.optim, schedule=schedule, total_steps=int(total_steps))
        self._apply_lr()

    def current_lr(self) -> float:
        o = self.optim
        if o.schedule == "cosine" and o.total_steps > 0:
            progress = min(self.step_count / o.total_steps, 1.0)
            ratio = o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
            return o.lr * ratio
        if o.schedule == "ramp" and o.total_steps > 0:
            return o.lr * min(1.0, (self.step_count + 1) / o.total_steps)
        return o.lr

    def _apply_lr(self) -> None:
        lr = self.current_lr()
        if isinstance(self.optimizer, FlatAdam):
            self.optimizer.lr = lr
        else:
            for group in self.optimizer.param_groups:
                group["lr"] = lr

    # -- training ------------------------------------------------------------------------------------------------
    def _next_batch(self) -> Tensor:
        n = self.x_train.shape[0]
        batch = min(self.optim.batch_size, n)
        if self._cursor + batch > self._order.numel():
            self._order = torch.randperm(n, generator=self.generator).to(self.device)
            self._shuffled = self.x_train[self._order]
            self._cursor = 0
        start = self._cursor
        self._cursor += batch
        if self._dequant is not None:
            u = torch.rand(batch, self._dequant.shape[0], generator=self.generator, dtype=self._dequant.dtype)
            return self._shuffled[start : self._cursor] + (u - 0.5).to(self.device) @ self._dequant
        return self._shuffled[start : self._cursor]

    def _one_step(self, loss_out: Tensor) -> None:
        """One minibatch step; its training loss is written into the 0-dim tensor ``loss_out``."""
        x = self._next_batch()
        if self.use_manual_backward:
            if self._fastgrad_flat is not self.flat:  # (re)plan for the current parameter buffers
                self._fastgrad, self._fastgrad_flat = FastGrad(self.model), self.flat
            self._fastgrad(x, out=loss_out)
        else:
            self.flat.zero_grad()
            loss = self.model.nll_loss(x)
            loss.backward()
            loss_out.copy_(loss.detach())
        if self.optim.schedule != "constant":
            self._apply_lr()
        if isinstance(self.optimizer, FlatAdam):
            self.optimizer.step(max_grad_norm=self.optim.grad_clip)  # clipping folded into the fused step
        else:
            if self.optim.grad_clip > 0:
                self.flat.clip_grad_norm_(self.optim.grad_clip)
            self.optimizer.step()

    def step(self, n_steps: int = 1) -> int:
        """Advance ``n_steps`` minibatch steps (fewer if the guard rewinds); returns the steps actually kept."""
        start_count = self.step_count
        t0 = time.perf_counter()
        remaining = int(n_steps)
        while remaining > 0:
            chunk = min(remaining, SNAPSHOT_EVERY - self.step_count % SNAPSHOT_EVERY)
            losses = torch.empty(chunk, dtype=self.flat.param.dtype, device=self.device)
            for loss_out in losses.unbind():
                self._one_step(loss_out)
            remaining -= chunk
            losses = losses.cpu().double()
            finite = bool(torch.isfinite(losses).all()) and bool(torch.isfinite(self.flat.param).all())
            if not finite:
                self._recover(losses)
                break
            first = self.step_count + 1
            self.step_count += chunk
            self.history.steps.extend(range(first, self.step_count + 1))
            self.history.train_nll.extend((losses + self.nll_offset).tolist())
            if self.step_count % SNAPSHOT_EVERY == 0:
                self._snapshot = self._take_snapshot()
        kept = self.step_count - start_count
        if n_steps > 0:
            self.last_step_time = (time.perf_counter() - t0) / max(int(n_steps), 1)
        return kept

    # -- moving a run between processes -------------------------------------------------------------------------
    def blueprint(self) -> dict[str, Any]:
        """The arguments that build a twin of this trainer (same data, standardisation, architecture and seed);
        plain data, picklable. ``Trainer(**blueprint)`` then :meth:`import_state` continues this run there."""
        return dict(self._blueprint)

    def export_state(self) -> dict[str, Any]:
        """Everything :meth:`step` reads or changes, except the history: weights, buffers, optimiser state, the
        optimiser settings, the shuffling generator and position, the step count and the guard's snapshot.

        A twin built from :meth:`blueprint` that imports this state and steps gives exactly the weights and losses
        this trainer would have. The tensors are this trainer's own (not copies): pickle them or import them at
        once. The history is not included: :meth:`step` only appends to it (or truncates it on a rewind).

        >>> a = Trainer.for_dataset("moons", n_points=500, heldout_points=100, flow=FlowConfig(n_layers=2))
        >>> b = Trainer(**a.blueprint())
        >>> _ = a.step(7); b.import_state(a.export_state())
        >>> _ = a.step(5); _ = b.step(5)
        >>> torch.equal(a.flat.param, b.flat.param), b.step_count
        (True, 12)
        """
        if isinstance(self.optimizer, FlatAdam):
            optimizer: Any = dict(self.optimizer.state_tensors())
        else:
            optimizer = self.optimizer.state_dict()
        return {
            "param": self.flat.param.detach(),
            "buffers": dict(self.model.named_buffers()),
            "optimizer": optimizer,
            "optim": self.optim,
            "generator": self.generator.get_state(),
            "order": self._order,
            "cursor": self._cursor,
            "step_count": self.step_count,
            "last_step_time": self.last_step_time,
            "snapshot": self._snapshot,
        }

    @torch.no_grad()
    def import_state(self, state: dict[str, Any]) -> None:
        """Continue from ``state`` (from :meth:`export_state` of this trainer or of a twin); history untouched."""
        self.flat.param.copy_(state["param"])
        for name, buf in self.model.named_buffers():
            buf.copy_(state["buffers"][name])
        self.optim = state["optim"]
        if isinstance(self.optimizer, FlatAdam):
            for k, v in self.optimizer.state_tensors().items():
                v.copy_(state["optimizer"][k])
        else:
            self.optimizer.load_state_dict(state["optimizer"])
        self._apply_lr()
        self.generator.set_state(state["generator"])
        order = state["order"].to(self.device)
        if order is not self._order:
            self._order = order
            self._shuffled = self.x_train[order] if order.numel() else self.x_train[:0]
        self._cursor = int(state["cursor"])
        self.step_count = int(state["step_count"])
        self.last_step_time = float(state["last_step_time"])
        self._snapshot = state["snapshot"]

    # -- the NaN/Inf guard ---------------------------------------------------------------------------------------
    def _take_snapshot(self) -> dict[str, Any]:
        opt_state = (
            {k: v.clone() for k, v in self.optimizer.state_tensors().items()}
            if isinstance(self.optimizer, FlatAdam)
            else None
        )
        buffers = {k: v.clone() for k, v in self.model.named_buffers()}
        return {"step": self.step_count, "param": self.flat.param.detach().clone(), "opt": opt_state, "buf": buffers}

    @torch.no_grad()
    def _recover(self, losses: Tensor) -> None:
        bad = (~torch.isfinite(losses)).nonzero()
        bad_step = self.step_count + (int(bad[0]) + 1 if len(bad) else len(losses))
        what = "the loss became NaN/Inf" if len(bad) else "the weights became NaN/Inf"
        snap = self._snapshot
        self.flat.param.copy_(snap["param"])
        self.flat.zero_grad()
        for name, buf in self.model.named_buffers():
            buf.copy_(snap["buf"][name])
        if snap["opt"] is not None:
            for k, v in self.optimizer.state_tensors().items():
                v.copy_(snap["opt"][k])
        else:
            self.optimizer = self._make_optimizer()
        old_lr = self.optim.lr
        self.optim = replace(self.optim, lr=old_lr * 0.5)
        self._apply_lr()
        self.step_count = snap["step"]
        self.history.truncate(self.step_count)
        self.history.events.append(
            f"Step {bad_step}: {what}. Restored the weights from step {self.step_count} and lowered the "
            f"learning rate from {old_lr:.3g} to {self.optim.lr:.3g}."
        )

    # -- evaluation ----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, record: bool = True) -> float:
        """Mean NLL (nats, original units) of the fixed held-out set; recorded in the history by default."""
        self.model.eval()
        try:
            nll = -float(self.model.log_prob(self.x_heldout).double().mean()) + self.nll_offset
        finally:
            self.model.train()
        if record:
            if self.history.eval_steps and self.history.eval_steps[-1] == self.step_count:
                self.history.heldout_nll[-1] = nll
            else:
                self.history.eval_steps.append(self.step_count)
                self.history.heldout_nll.append(nll)
        return nll

    @torch.no_grad()
    def log_prob(self, points: np.ndarray) -> np.ndarray:
        """Model log-density (nats, original units) at ``points`` of shape (m, dim)."""
        self.model.eval()
        try:
            x = torch.as_tensor(self.standardizer.transform(np.asarray(points, np.float64)), dtype=torch.float32)
            lp = self.model.log_prob(x.to(self.device)).double().cpu().numpy()
        finally:
            self.model.train()
        return lp - self.nll_offset

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, temperature: float = 1.0) -> np.ndarray:
        """``n`` samples in the data's own units (seeded when ``seed`` is given)."""
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        self.model.eval()
        try:
            z = self.model.sample(n, generator=generator, temperature=temperature).double().cpu().numpy()
        finally:
            self.model.train()
        return self.standardizer.inverse(z)

    @property
    def gap(self) -> float | None:
        """Latest held-out NLL minus the dataset's true entropy (None without either)."""
        if self.entropy is None or not self.history.heldout_nll:
            return None
        return self.history.heldout_nll[-1] - self.entropy

    def view_bounds(self, margin: float = 0.25) -> tuple[float, float, float, float]:
        """A square-ish window ``(x0, x1, y0, y1)`` around the training data (0.5–99.5 percentiles plus a margin)."""
        lo = np.percentile(self.train_points[:, :2], 0.5, axis=0)
        hi = np.percentile(self.train_points[:, :2], 99.5, axis=0)
        centre, half = (lo + hi) / 2, (hi - lo).max() / 2 * (1 + margin) + 1e-9
        return (centre[0] - half, centre[0] + half, centre[1] - half, centre[1] + half)

    def log_prob_grid(
        self, bounds: tuple[float, float, float, float] | None = None, resolution: int = 80
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Model log-density on a ``resolution²`` grid: ``(xs, ys, log_p[iy, ix])`` in the data's own units."""
        x0, x1, y0, y1 = bounds or self.view_bounds()
        xs, ys = np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution)
        gx, gy = np.meshgrid(xs, ys)
        log_p = self.log_prob(np.stack([gx.ravel(), gy.ravel()], axis=1)).reshape(resolution, resolution)
        return xs, ys, log_p
