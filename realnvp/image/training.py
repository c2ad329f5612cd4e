"""Train an image flow a few steps at a time, so a UI can watch it learn: :class:`ImageTrainer`.

The same contract as the 2-D :class:`realnvp.training.Trainer` that the app's background worker drives:
``step(n)`` returns promptly, ``evaluate()`` measures held-out (validation) bits/dim, ``step_count`` counts.
On top of it: a fixed latent draw, so the sample grid changes only because the model does
(:meth:`ImageTrainer.sample_grid`), wall-clock seconds of training, and :meth:`ImageTrainer.save` writing a
flow folder that :func:`realnvp.image.catalog.load_flow` and ``python -m realnvp sample-image`` read like a shipped
one. Every random draw (weights, batches, dequantisation noise, the fixed latents) comes from generators seeded
by ``seed``: two trainers with the same arguments take identical steps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from realnvp.image.catalog import save_flow
from realnvp.image.data import ImageData, heldout_indices, load_image_data
from realnvp.image.flow import ImageFlowConfig, ImageRealNVP, class_bits_per_dim, dataset_bits_per_dim

__all__ = ["LIVE_CONFIGS", "ImageHistory", "ImageTrainer", "downsample"]

#: Architectures small enough to watch learn on one CPU core, by image size ``(H, W)``.
LIVE_CONFIGS = {
    (8, 8): ImageFlowConfig(n_scales=2, n_checker=3, n_channel=3, n_final=4, hidden=32, alpha=1e-4),
    (14, 14): ImageFlowConfig(n_scales=2, n_checker=2, n_channel=2, n_final=3, hidden=24, alpha=1e-4),
}


def downsample(data: ImageData, factor: int = 2) -> ImageData:
    """Average ``factor x factor`` blocks (levels rounded): MNIST-5k 28x28 -> 14x14, same splits and labels.

    >>> small = downsample(load_image_data("digits"))
    >>> small.train.shape[1:], small.n_levels, small.name
    ((1, 4, 4), 17, 'digits-4x4')
    """

    def pool(levels: np.ndarray) -> np.ndarray:
        n, c, h, w = levels.shape
        blocks = levels.reshape(n, c, h // factor, factor, w // factor, factor).astype(np.float64)
        return np.rint(blocks.mean(axis=(3, 5))).astype(np.uint8)

    h, w = data.train.shape[2] // factor, data.train.shape[3] // factor
    return replace(
        data,
        name=f"{data.name}-{h}x{w}",
        train=pool(data.train),
        val=pool(data.val),
        test=pool(data.test),
        source=f"{data.source}, averaged over {factor}x{factor} blocks to {h}x{w}",
    )


@dataclass
class ImageHistory:
    """What a live chart plots: smoothed training bits/dim per step, validation bits/dim per evaluation."""

    steps: list[int] = field(default_factory=list)
    train_bpd: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_seconds: list[float] = field(default_factory=list)
    val_bpd: list[float] = field(default_factory=list)


class ImageTrainer:
    """An image flow, its data and optimiser, advanced a few steps per call.

    >>> trainer = ImageTrainer("digits", config=ImageFlowConfig(hidden=4, n_checker=1, n_channel=1, n_final=1),
    ...                        n_val=20, seed=0)
    >>> trainer.step(3), trainer.step_count
    (3, 3)
    >>> val = trainer.evaluate(); trainer.history.eval_steps, 2.0 < val < 6.0
    ([3], True)
    >>> trainer.sample_grid().shape
    torch.Size([36, 1, 8, 8])
    """

    def __init__(
        self,
        data: ImageData | str = "digits",
        config: ImageFlowConfig | None = None,
        *,
        conditional: bool = False,
        seed: int = 0,
        batch_size: int = 64,
        lr: float = 1e-3,
        warmup: int = 50,
        grad_clip: float = 50.0,
        n_val: int | None = None,
        n_grid: int = 36,
        device: str = "cpu",
    ):
        self.data = load_image_data(data) if isinstance(data, str) else data
        if conditional and not self.data.n_classes:
            raise ValueError(f"{self.data.name} has no class labels: a conditional flow needs digits or mnist")
        c, h, w = self.data.train.shape[1:]
        base = config if config is not None else LIVE_CONFIGS.get((h, w), ImageFlowConfig())
        self.config = replace(
            base,
            channels=c,
            height=h,
            width=w,
            n_levels=self.data.n_levels,
            n_classes=self.data.n_classes if conditional else 0,
        )
        self.seed, self.batch_size, self.lr, self.warmup, self.grad_clip = seed, batch_size, lr, warmup, grad_clip
        self.device = torch.device(device)
        self.model = ImageRealNVP(self.config, seed=seed).to(self.device)
        self.generator = torch.Generator().manual_seed(seed + 1)  # batches and dequantisation noise
        self.model.set_dropout_generator(self.generator)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.train_levels = torch.as_tensor(self.data.train)
        self.train_labels = torch.as_tensor(self.data.train_labels) if conditional else None
        val_count = len(self.data.val) if n_val is None else min(n_val, len(self.data.val))
        self.val_levels = self.data.val[:val_count]
        self.val_labels = self.data.val_labels[:val_count] if conditional else None
        init = torch.randperm(len(self.train_levels), generator=torch.Generator().manual_seed(seed))[:256]
        init_labels = None if self.train_labels is None else self.train_labels[init].to(self.device)
        self.model.initialize(self.train_levels[init].to(self.device), torch.Generator().manual_seed(seed), init_labels)
        # the grid's latents are drawn once: later frames differ only because the model changed
        grid_gen = torch.Generator().manual_seed(seed + 2)
        self.grid_latents = self.model.sample_latents(n_grid, 1.0, grid_gen)
        k = max(self.config.n_classes, 1)
        self.grid_labels = torch.arange(n_grid, device=self.device) % k if conditional else None
        self.step_count = 0
        self.seconds = 0.0  # wall time spent inside step()
        self.history = ImageHistory()
        self._running, self._running_n = 0.0, 0

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def _lr(self) -> float:
        return self.lr * min(1.0, (self.step_count + 1) / max(1, self.warmup))

    def step(self, n: int = 1) -> int:
        """Take ``n`` optimiser steps (batches drawn from the training split); returns the steps taken."""
        started = time.perf_counter()
        self.model.train()
        for _ in range(int(n)):
            for group in self.optimizer.param_groups:
                group["lr"] = self._lr()
            idx = torch.randint(len(self.train_levels), (self.batch_size,), generator=self.generator)
            levels = self.train_levels[idx].to(self.device)
            labels = None if self.train_labels is None else self.train_labels[idx].to(self.device)
            loss = self.model.bits_per_dim(levels, self.generator, labels).mean()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
            if torch.isfinite(norm):
                self.optimizer.step()
                self._running += float(loss.detach())
                self._running_n += 1
            self.step_count += 1
        self.seconds += time.perf_counter() - started
        return int(n)

    def evaluate(self) -> float:
        """Validation bits/dim (deterministic dequantisation), recorded with the smoothed training bits/dim."""
        val = dataset_bits_per_dim(self.model, self.val_levels, seed=0, labels=self.val_labels)
        if self._running_n:
            self.history.steps.append(self.step_count)
            self.history.train_bpd.append(self._running / self._running_n)
            self._running, self._running_n = 0.0, 0
        if not self.history.eval_steps or self.history.eval_steps[-1] != self.step_count:
            self.history.eval_steps.append(self.step_count)
            self.history.eval_seconds.append(self.seconds)
            self.history.val_bpd.append(val)
        return val

    @torch.no_grad()
    def sample_grid(self, temperature: float = 1.0) -> Tensor:
        """Decode the fixed latent draw at ``temperature`` (a conditional flow: classes ``0, 1, …`` in turn)."""
        self.model.eval()
        latents = [temperature * z for z in self.grid_latents]
        images = self.model.decode(latents, self.grid_labels).clamp(0.0, 1.0)
        return images.cpu()

    def card(self) -> dict:
        """A model card for the folder :meth:`save` writes."""
        test_labels = self.data.test_labels if self.config.n_classes else None
        card = {
            "name": f"{self.data.name}-live",
            "dataset": self.data.name,
            "data": self.data.source,
            "license": self.data.license,
            "split": self.data.split,
            "dequantization": f"x = (level + u) / {self.config.n_levels}, u ~ U[0,1)",
            "test_bpd": round(dataset_bits_per_dim(self.model, self.data.test, seed=0, labels=test_labels), 4),
            "val_bpd": round(self.history.val_bpd[-1], 4) if self.history.val_bpd else None,
            "steps": self.step_count,
            "minutes": round(self.seconds / 60, 2),
            "trained_on": f"the app's Train live tab ({self.device.type.upper()})",
            "command": "Image flows page, Train live",
            "seed": self.seed,
            "torch": torch.__version__,
        }
        if self.config.n_classes:
            scores = class_bits_per_dim(self.model, self.data.test, seed=0)
            card["bayes_accuracy_test"] = round(float((scores.argmin(1) == self.data.test_labels).mean()), 4)
        return card

    def save(self, folder: str | Path) -> Path:
        """Write a flow folder (weights, config, card, held-out images) that ``load_flow`` accepts."""
        shown = heldout_indices(len(self.data.test))
        labels = self.data.test_labels[shown] if self.config.n_classes else None
        save_flow(folder, self.model, self.data.name, self.card(), self.data.test[shown], labels)
        return Path(folder)
