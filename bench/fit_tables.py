"""``realnvp.fit_points`` on small public tables, against a full-covariance Gaussian and a Gaussian KDE.

Tables (all ship inside installed packages, nothing is downloaded): scikit-learn's ``load_iris``, ``load_wine``,
``load_breast_cancer``, ``load_diabetes(scaled=False)``, ``load_linnerud``, and plotly's bundled ``tips`` and
``gapminder``; two numeric columns each (listed in :data:`TABLES`, with the recording grid that
:func:`realnvp.fit.detect_resolution` finds: one decimal in iris and diabetes' bmi, integers in diabetes' age,
wine's proline and linnerud).

Protocol: K-fold cross-validation (default 5 folds, shuffled with a fixed seed), so every row is held out once.
On each fold the three models see the same training rows (fit_points splits off its own validation rows from
them); every number is the mean held-out NLL in nats per row, in the table's original units, averaged over folds.

Like with like on recorded resolution: a column recorded to a grid of width ``h`` has no density in the raw
sense (the rows sit on a lattice), and fit_points learns the density of the *de-quantised* data (row + U(-h/2,
h/2)). So every model (flow, Gaussian, KDE) is scored on the same jittered held-out rows: each held-out row plus
uniform noise of the grid width, :data:`JITTER_DRAWS` fixed draws per row, ``-log p`` averaged over draws. This is
the standard dequantisation bound: ``E_u[-log p(x + u)] >= -log P(cell of x) + log(cell area)``, so a lower number
is a better probability for the recorded cell and the three are comparable. (The Gaussian and the KDE are fitted
on the raw training rows, as a user would; their densities are smooth, so jitter changes them little.) Columns
without a grid are scored on the raw held-out rows.

    python -m bench.fit_tables                  # default budget (20 s per fit), 5 folds
    python -m bench.fit_tables --folds 4 --budget 10 --tables iris-petal wine
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
from scipy import stats

from realnvp.fit import detect_resolution, fit_points

JITTER_DRAWS = 10


def _sk(loader, cols, target=False, **kw):
    def load():
        ds = loader(**kw)
        data = ds.target if target else ds.data
        names = list(ds.target_names if target else ds.feature_names)
        return np.asarray(data, float)[:, [names.index(c) for c in cols]]

    return load


def _tips():
    import plotly.data

    return plotly.data.tips()[["total_bill", "tip"]].to_numpy(float)


def _gapminder():
    import plotly.data

    g = plotly.data.gapminder()
    return np.stack([g["lifeExp"].to_numpy(float), np.log10(g["gdpPercap"].to_numpy(float))], axis=1)


def _diabetes(cols):
    def load():
        from sklearn.datasets import load_diabetes

        ds = load_diabetes(scaled=False)
        table = {name: ds.data[:, i] for i, name in enumerate(ds.feature_names)} | {"target": ds.target}
        return np.stack([table[c] for c in cols], axis=1).astype(float)

    return load


def _tables():
    from sklearn.datasets import load_breast_cancer, load_iris, load_linnerud, load_wine

    return {
        "iris-petal": (
            "iris: petal length × petal width (cm, 0.1)",
            _sk(load_iris, ["petal length (cm)", "petal width (cm)"]),
        ),
        "iris-sepal": (
            "iris: sepal length × sepal width (cm, 0.1)",
            _sk(load_iris, ["sepal length (cm)", "sepal width (cm)"]),
        ),
        "wine": ("wine: alcohol (0.01) × proline (integers)", _sk(load_wine, ["alcohol", "proline"])),
        "wine-phenols": (
            "wine: flavanoids × od280/od315",
            _sk(load_wine, ["flavanoids", "od280/od315_of_diluted_wines"]),
        ),
        "cancer": (
            "breast cancer: mean radius × mean texture",
            _sk(load_breast_cancer, ["mean radius", "mean texture"]),
        ),
        "diabetes": ("diabetes (raw): age (integers) × bmi (0.1)", _diabetes(["age", "bmi"])),
        "diabetes-target": ("diabetes (raw): bmi (0.1) × target (integers)", _diabetes(["bmi", "target"])),
        "linnerud": (
            "linnerud: weight × waist (integers, 20 rows)",
            _sk(load_linnerud, ["Weight", "Waist"], target=True),
        ),
        "tips": ("plotly tips: total bill × tip ($)", _tips),
        "gapminder": ("plotly gapminder: life expectancy × log10 GDP per capita", _gapminder),
    }


TABLES = _tables


def gaussian_nll(train: np.ndarray, test: np.ndarray) -> float:
    mean = train.mean(0)
    cov = np.cov(train.T, bias=True)
    return -float(stats.multivariate_normal(mean, cov).logpdf(test).mean())


def kde_nll(train: np.ndarray, test: np.ndarray) -> float:
    kde = stats.gaussian_kde(train.T)  # Scott's rule
    return -float(np.mean(kde.logpdf(test.T)))


def folds(n: int, k: int, seed: int) -> list[np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(perm, k)]


def run_table(x: np.ndarray, k: int, budget: float | None, max_steps: int | None, seed: int, **fit_kwargs) -> dict:
    widths = np.array([detect_resolution(x[:, j])[0] for j in range(x.shape[1])])
    rng = np.random.default_rng([seed, 7])
    out = {"flow": [], "gauss": [], "kde": [], "seconds": [], "warn": 0, "gauss_kept": 0, "sizes": [], "best": []}
    for test_idx in folds(len(x), k, seed):
        train = np.delete(x, test_idx, axis=0)
        test = x[test_idx]
        if (widths > 0).any():
            test = np.tile(test, (JITTER_DRAWS, 1))
            test = test + (rng.random(test.shape) - 0.5) * widths
        t0 = time.perf_counter()
        fit = fit_points(train, seed=seed, budget_s=budget, max_steps=max_steps, **fit_kwargs)
        out["seconds"].append(time.perf_counter() - t0)
        out["flow"].append(-float(fit.log_prob(test).mean()))
        out["gauss"].append(gaussian_nll(train, test))
        out["kde"].append(kde_nll(train, test))
        out["warn"] += bool(fit.warnings)
        out["gauss_kept"] += fit.config.best_step == 0
        out["sizes"].append(f"{fit.config.layers}x{fit.config.hidden[0]}")
        out["best"].append(f"{fit.config.best_step}/{fit.config.steps_run}")
    out["widths"] = widths
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--budget", type=float, default=20.0, help="fit_points budget_s per fit (default 20)")
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tables", nargs="*", default=None)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    tables = TABLES()
    names = args.tables or list(tables)
    header = f"{'table':<16} {'rows':>5} {'grid h':>12} {'flow':>8} {'Gauss':>8} {'KDE':>8} {'f-G':>7} {'f-KDE':>7} {'s/fit':>6}  notes"
    print(header)
    print("-" * len(header))
    wins_g = wins_k = 0
    for name in names:
        title, load = tables[name]
        x = load()
        r = run_table(x, args.folds, args.budget, args.max_steps, args.seed)
        f, g, kd = (float(np.mean(r[key])) for key in ("flow", "gauss", "kde"))
        wins_g += f <= g + 1e-9
        wins_k += f <= kd + 1e-9
        grid = ",".join(f"{w:g}" if w else "-" for w in r["widths"])
        notes = f"{r['gauss_kept']}/{args.folds} kept Gaussian; warned {r['warn']}/{args.folds}; " + " ".join(
            sorted(set(r["sizes"]))
        )
        print(
            f"{name:<16} {len(x):>5} {grid:>12} {f:>8.3f} {g:>8.3f} {kd:>8.3f} {f - g:>+7.3f} {f - kd:>+7.3f} "
            f"{np.mean(r['seconds']):>6.1f}  {notes}",
            flush=True,
        )
        if args.verbose:
            print(
                f"    {title}; per fold flow {np.round(r['flow'], 3).tolist()} gauss {np.round(r['gauss'], 3).tolist()}"
                f" kde {np.round(r['kde'], 3).tolist()} best {r['best']}",
                flush=True,
            )
    print(f"\nflow <= Gaussian on {wins_g}/{len(names)} tables, flow <= KDE on {wins_k}/{len(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
