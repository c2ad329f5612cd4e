"""Are a class-conditional flow's samples recognisable? And how well does the flow classify by Bayes' rule?

For every shipped class-conditional image flow: two scikit-learn classifiers — an RBF support-vector machine (the
judge: 95.6% on MNIST-5k's real test images) and a logistic regression (89.2%) — are trained on the real training
images of its dataset; each labels ``--n`` samples drawn from the flow at temperature ``--temperature`` (an equal
number per class), and we report the share labelled as the class asked for. For reference each classifier's
accuracy on the real test images, and the flow's own Bayes-rule accuracy on the whole test split
(``argmax_y p(x | y)``, uniform prior).

    python -m bench.conditional_samples [--flows digits-conditional mnist5k-conditional] [--n 1000] [--temperature 0.7]
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC

from realnvp.image import class_bits_per_dim
from realnvp.image.catalog import load_flow
from realnvp.image.data import load_image_data

CLASSIFIERS = {
    "svm": lambda: SVC(C=5.0, gamma="scale"),
    "logistic": lambda: LogisticRegression(max_iter=2000, C=1.0),
}


def classifier_for(data, kind: str = "svm"):
    """A classifier of ``kind`` fitted on the real training images, and its accuracy on the real test images."""
    x = data.train.reshape(len(data.train), -1) / (data.n_levels - 1)
    model = CLASSIFIERS[kind]().fit(x, data.train_labels)
    test = data.test.reshape(len(data.test), -1) / (data.n_levels - 1)
    return model, float((model.predict(test) == data.test_labels).mean())


def measure(name: str, n: int, temperature: float, seed: int = 0) -> dict:
    flow = load_flow(name)
    data = load_image_data(flow.config["dataset"])
    k = flow.n_classes
    labels = torch.arange(n) % k
    generator = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    with torch.no_grad():
        images = torch.cat(
            [
                flow.model.sample(len(chunk), temperature, generator, chunk)
                for chunk in labels.split(250)  # bounded memory for 28x28
            ]
        )
    sample_s = time.perf_counter() - started
    levels = flow.model.quantize(images).numpy().reshape(n, -1) / (data.n_levels - 1)
    judged = {}
    for kind in CLASSIFIERS:
        clf, real_accuracy = classifier_for(data, kind)
        predicted = clf.predict(levels)
        per_class = {int(c): float((predicted[labels.numpy() == c] == c).mean()) for c in range(k)}
        judged[kind] = {
            "recognised": round(float((predicted == labels.numpy()).mean()), 4),
            "worst_class": min(per_class.items(), key=lambda kv: kv[1]),
            "accuracy_on_real_test_images": round(real_accuracy, 4),
        }
    started = time.perf_counter()
    scores = class_bits_per_dim(flow.model, data.test, seed=0)
    bayes_s = time.perf_counter() - started
    return {
        "flow": name,
        "n_samples": n,
        "temperature": temperature,
        "classifiers": judged,
        "flow_bayes_accuracy_test": round(float((scores.argmin(1) == data.test_labels).mean()), 4),
        "n_test": len(data.test),
        "sample_seconds": round(sample_s, 2),
        "bayes_seconds": round(bayes_s, 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", nargs="+", default=["digits-conditional", "mnist5k-conditional"])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    for name in args.flows:
        print(json.dumps(measure(name, args.n, args.temperature, args.seed)), flush=True)


if __name__ == "__main__":
    main()
