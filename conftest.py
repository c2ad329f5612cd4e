"""Test-wide setup: the repository root is importable (for `realnvp` and the app's `ui` helpers), and torch runs
one thread, as the app does per session — deterministic and fastest on 2 shared cores."""

import torch

torch.set_num_threads(1)
