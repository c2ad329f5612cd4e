"""What the Image flows page shows about a flow: its card as table rows, which published numbers are comparable,
and where a "what each scale holds" tour should start. No streamlit here.
"""

from __future__ import annotations

import numpy as np

from realnvp.image.catalog import PUBLISHED_BPD

__all__ = ["card_facts", "markdown_cell", "most_structured", "published_rows"]


def markdown_cell(value) -> str:
    """Text safe inside one cell of a Markdown table: ``|`` escaped, line breaks flattened.

    >>> markdown_cell("x = (level + u) / 17, u ~ q(u | level)")
    'x = (level + u) / 17, u ~ q(u \\\\| level)'
    """
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def card_facts(card: dict) -> dict[str, str]:
    """The model card's headline facts, in reading order (bits/dim conditional and label-free for a conditional
    flow).

    >>> list(card_facts({"test_bpd": 1.8, "n_classes": 10, "test_bpd_marginal": 1.81}))[:4]
    ['Data', 'Split', 'Dequantisation', 'Test bits/dim (given the label)']
    """
    conditional = bool(card.get("n_classes"))
    facts = {
        "Data": card.get("data"),
        "Split": card.get("split"),
        "Dequantisation": card.get("dequantization"),
    }
    if conditional:
        facts["Test bits/dim (given the label)"] = card.get("test_bpd")
        facts["Test bits/dim (label unknown: mixture of the classes)"] = card.get("test_bpd_marginal")
        facts["Bayes-rule accuracy on the test split"] = (
            f"{card['bayes_accuracy_test']:.1%}" if isinstance(card.get("bayes_accuracy_test"), float) else "—"
        )
    else:
        facts["Test bits/dim"] = card.get("test_bpd")
    facts["Validation bits/dim"] = card.get("val_bpd")
    facts["Parameters"] = f"{card.get('parameters', 0):,}"
    facts["Weights"] = f"{card.get('file_bytes', 0) / 1e6:.2f} MB, sha256 {str(card.get('sha256'))[:16]}…"
    facts["Trained"] = f"{card.get('steps')} steps, {card.get('minutes')} min, {card.get('trained_on')}"
    facts["Command"] = f"`{card.get('command')}`"
    return facts


def published_rows(dataset: str | None) -> tuple[str, list[str]]:
    """A heading and Markdown table rows of the published numbers that give this flow's data a scale.

    MNIST flows get the MNIST rows; the photo patches get CIFAR-10's with the caveat that the data differ; the
    8x8 digits have no published counterpart.

    >>> published_rows("digits")[1]
    []
    >>> "not comparable" in published_rows("patches")[0]
    True
    """
    if dataset and dataset.startswith("mnist"):
        rows = [f"| MNIST (28×28, 60k training images) | {m} | {v} |" for m, v in PUBLISHED_BPD["mnist"].items()]
        return (
            "**Published numbers for context** (all 60,000 training images, GPU-days; ours are small CPU runs):",
            rows,
        )
    if dataset == "patches":
        rows = [f"| CIFAR-10 (32×32 RGB photos) | {m} | {v} |" for m, v in PUBLISHED_BPD["cifar10"].items()]
        return (
            "**For scale only — not comparable:** CIFAR-10 is 32×32 images of whole objects; these are 8×8 "
            "patches cut from two photos (smoother, fewer pixels, different statistics), so bits/dim differ for "
            "reasons that have nothing to do with the model.",
            rows,
        )
    return "No published bits/dim exist for this data set; the baselines above give the scale.", []


def most_structured(images: np.ndarray) -> int:
    """Index of the image with the most spread in its pixel levels (the least flat one).

    >>> flat, busy = np.zeros((1, 1, 4, 4)), np.arange(16).reshape(1, 1, 4, 4)
    >>> most_structured(np.concatenate([flat, busy, flat]))
    1
    """
    images = np.asarray(images, dtype=np.float64)
    return int(images.reshape(len(images), -1).std(axis=1).argmax())
