"""``diy-regression``: the DIY report's §1.3.1, linear regression with the NumPy engine against scikit-learn.

The report trains its ``Linear`` module with the MSE loss and compares the test coefficient of determination (R²) with
scikit-learn's ``LinearRegression``: 0.52 for its network against 0.47. It does not say which data; its figures show
1-D points and a line. The 0.47 is what scikit-learn's ordinary-least-squares gallery example (``plot_ols``) prints
(0.4726: the ``diabetes`` data, its BMI feature alone, the last 20 patients as test set), so that is the data we
compare with the report's numbers (an inference; the report does not say).
Two more data sets show the same comparison elsewhere:

- ``synthetic``: y = 1.5 x + 0.5 + noise, x uniform on [-2, 2], the noise chosen so the best possible R² is 0.5;
- ``diabetes-bmi``: the scikit-learn example's split (fixed), the BMI feature standardised on the training part;
- ``diabetes``: all 10 features, a seeded 80/20 split, features standardised on the training part.

Ours: ``Linear(d, 1)`` + ``MSELoss`` by mini-batch SGD (the shared ``fit`` loop, float64); targets are standardised on
the training part for the two diabetes sets (R² does not change under that affine map). Least squares minimises the
training error exactly, so SGD can at best match scikit-learn on the training set; on a test set either can win by
chance, and the ``noise`` part measures how much the test R² moves with the choice of 20 test patients.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from visionbench.scratch import Linear, MSELoss
from visionbench.studies._diy import DOC, fit, loss_figure, seed_parts
from visionbench.studies._study import Part, Reference, Study, StudyRun

#: The synthetic line and its noise (variance of a*x for x ~ U(-2, 2) is a^2 * 4/3 = 3, so sigma^2 = 3 gives R² 0.5).
SLOPE, INTERCEPT, X_RANGE, NOISE = 1.5, 0.5, 2.0, float(np.sqrt(3.0))
BMI = 2  # column of the BMI feature in scikit-learn's diabetes data
BMI_TEST = 20  # scikit-learn's example keeps the last 20 patients for testing
#: Learning-rate schedule: (share of the epochs, factor of the base learning rate).
STAGES = ((0.6, 1.0), (0.2, 0.2), (0.2, 0.04))


@dataclass
class _Split:
    """One regression problem: name, train and test arrays, and the affine map back to the original target units."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    y_mean: float = 0.0
    y_std: float = 1.0


@dataclass
class _Result:
    """What one data set gave: R² of both models (None when SGD diverged), the fitted coefficients, the losses."""

    r2_train_ours: float | None
    r2_test_ours: float | None
    r2_train_sk: float
    r2_test_sk: float
    coef_ours: np.ndarray | None
    coef_sk: np.ndarray
    intercept_ours: float | None
    intercept_sk: float
    losses: list[float]
    net: Linear


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    """Coefficient of determination (scikit-learn's ``r2_score`` for one output)."""
    y, pred = np.asarray(y, float).reshape(-1), np.asarray(pred, float).reshape(-1)
    ss_res = float(((y - pred) ** 2).sum())
    ss_tot = float(((y - y.mean()) ** 2).sum())
    return 1.0 - ss_res / ss_tot


def _synthetic(n_train: int, n_test: int, rng: np.random.Generator) -> _Split:
    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.uniform(-X_RANGE, X_RANGE, (n, 1))
        return x, SLOPE * x[:, 0] + INTERCEPT + rng.normal(0.0, NOISE, n)

    Xtr, ytr = draw(n_train)
    Xte, yte = draw(n_test)
    return _Split("synthetic", Xtr, ytr, Xte, yte)


def _standardised(name: str, Xtr: np.ndarray, ytr: np.ndarray, Xte: np.ndarray, yte: np.ndarray) -> _Split:
    """Features and target standardised with the training part's mean and standard deviation."""
    mu, sd = Xtr.mean(axis=0), Xtr.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    y_mean, y_std = float(ytr.mean()), float(ytr.std())
    return _Split(name, (Xtr - mu) / sd, (ytr - y_mean) / y_std, (Xte - mu) / sd, (yte - y_mean) / y_std,
                  y_mean, y_std)


def _diabetes_bmi() -> _Split:
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    x = X[:, [BMI]]
    return _standardised("diabetes-bmi", x[:-BMI_TEST], y[:-BMI_TEST], x[-BMI_TEST:], y[-BMI_TEST:])


def _diabetes(seed: int) -> _Split:
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    X, y = load_diabetes(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=seed)
    return _standardised("diabetes", Xtr, ytr, Xte, yte)


def _fit_both(split: _Split, *, epochs: int, lr: float, batch_size: int, rng: np.random.Generator) -> _Result:
    """Our Linear + MSE by mini-batch SGD and scikit-learn's least squares on the same (standardised) data."""
    from sklearn.linear_model import LinearRegression

    d = split.X_train.shape[1]
    net = Linear(d, 1, rng=rng, dtype=np.float64)
    losses, diverged = [], False
    for share, factor in STAGES:  # step decay: constant-lr SGD keeps jittering around the optimum
        f = fit(net, MSELoss(), split.X_train, split.y_train[:, None], epochs=max(1, round(share * epochs)),
                lr=lr * factor, batch_size=batch_size, rng=rng)
        losses += f.losses
        if f.diverged:
            diverged = True
            break
    sk = LinearRegression().fit(split.X_train, split.y_train)

    def back(v: np.ndarray) -> np.ndarray:  # predictions in the original target units
        return np.asarray(v).reshape(-1) * split.y_std + split.y_mean

    ytr, yte = back(split.y_train), back(split.y_test)
    r2_tr_sk, r2_te_sk = _r2(ytr, back(sk.predict(split.X_train))), _r2(yte, back(sk.predict(split.X_test)))
    if diverged:
        return _Result(None, None, r2_tr_sk, r2_te_sk, None, sk.coef_, None, float(sk.intercept_), losses, net)
    with np.errstate(over="ignore", invalid="ignore"):
        r2_tr, r2_te = _r2(ytr, back(net.forward(split.X_train))), _r2(yte, back(net.forward(split.X_test)))
    return _Result(r2_tr, r2_te, r2_tr_sk, r2_te_sk, net._params["weight"][:, 0].copy(), sk.coef_,
                   float(net._params["bias"].reshape(-1)[0]), float(sk.intercept_), losses, net)


def _line_figure(split: _Split, res: _Result, *, title: str, xlabel: str, ylabel: str, true_line: bool) -> Figure:
    """Left: training points and our line; right: test points, our line and scikit-learn's (report Figures 1.1-1.2)."""
    fig = Figure(figsize=(9.6, 3.8), layout="constrained")
    lo = min(split.X_train.min(), split.X_test.min())
    hi = max(split.X_train.max(), split.X_test.max())
    xs = np.linspace(lo, hi, 50)

    def orig(v: np.ndarray) -> np.ndarray:
        return np.asarray(v) * split.y_std + split.y_mean

    for i, (which, X, y) in enumerate([("training", split.X_train, split.y_train),
                                       ("test", split.X_test, split.y_test)]):
        ax = fig.add_subplot(1, 2, i + 1)
        ax.scatter(X[:, 0], orig(y), s=10, color="0.5", alpha=0.7, label=f"{which} points")
        if res.coef_ours is not None and res.intercept_ours is not None:
            ax.plot(xs, orig(res.coef_ours[0] * xs + res.intercept_ours), color="#1f77b4", lw=2,
                    label=f"ours (SGD), test R² {res.r2_test_ours:.3f}")
        ax.plot(xs, orig(res.coef_sk[0] * xs + res.intercept_sk), "--", color="#d62728", lw=1.5,
                label=f"scikit-learn, test R² {res.r2_test_sk:.3f}")
        if true_line:
            ax.plot(xs, SLOPE * xs + INTERCEPT, ":", color="black", lw=1, label="true line")
        ax.set(title=f"{title}: {which} data", xlabel=xlabel, ylabel=ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig


def _record(p: Part, key_ours: str, key_sk: str, res: _Result, *, data: str, seed: int, what: str) -> None:
    p.value(key_ours, res.r2_test_ours, unit="R2", dataset=data, seed=seed, label=f"test R², ours (SGD), {what}")
    p.value(key_sk, res.r2_test_sk, unit="R2", dataset=data, seed=seed, label=f"test R², scikit-learn, {what}")


def _run(study: StudyRun) -> None:
    n_train, n_test, epochs = (100, 100, 50) if study.quick else (200, 200, 500)
    lr, batch = 0.01, 16
    bmi_data = f"diabetes, BMI feature only (scikit-learn example split: {442 - BMI_TEST} train / {BMI_TEST} test)"
    syn_data = f"synthetic 1-D, {n_train} train / {n_test} test"
    all_data = "diabetes, 10 features, seeded 80/20 split (353 train / 89 test)"

    def part(p: Part, seed: int) -> None:
        seq = np.random.SeedSequence(seed)
        data_rng, *fit_rngs = (np.random.default_rng(s) for s in seq.spawn(4))
        splits = [_diabetes_bmi(), _synthetic(n_train, n_test, data_rng), _diabetes(seed)]
        results = [_fit_both(s, epochs=epochs, lr=lr, batch_size=batch, rng=r)
                   for s, r in zip(splits, fit_rngs, strict=True)]
        bmi, syn, full = results
        _record(p, "r2_ours", "r2_sklearn", bmi, data=bmi_data, seed=seed, what="diabetes BMI")
        _record(p, "r2_ours_synthetic", "r2_sklearn_synthetic", syn, data=syn_data, seed=seed, what="synthetic")
        _record(p, "r2_ours_diabetes10", "r2_sklearn_diabetes10", full, data=all_data, seed=seed,
                what="diabetes, 10 features")
        for name, res in zip(("bmi", "synthetic", "diabetes10"), results, strict=True):
            gap = None if res.r2_train_ours is None else res.r2_train_sk - res.r2_train_ours
            p.value(f"train_r2_gap_{name}", gap, unit="R2", seed=seed,
                    label=f"training R², scikit-learn minus ours, {name} (>= 0: least squares is optimal)")
        rows = []
        for s, res in zip(splits, results, strict=True):
            rows.append([s.name, len(s.X_train), len(s.X_test), res.r2_train_ours, res.r2_train_sk,
                         res.r2_test_ours, res.r2_test_sk,
                         None if res.r2_test_ours is None else res.r2_test_ours - res.r2_test_sk])
        p.table(f"R² of both models, seed {seed}",
                ["data", "train n", "test n", "train R² ours", "train R² sklearn", "test R² ours",
                 "test R² sklearn", "test: ours − sklearn"], rows,
                f"Linear + MSE by mini-batch SGD ({epochs} epochs, batch {batch}, lr {lr}, lowered to "
                f"{lr * STAGES[1][1]:g} then {lr * STAGES[2][1]:g} for the last 40%) against scikit-learn's "
                f"LinearRegression on the same data; n/a marks a diverged fit.")
        if any(r.r2_test_ours is None for r in results):
            p.note(f"Seed {seed}: SGD diverged on "
                   + ", ".join(s.name for s, r in zip(splits, results, strict=True) if r.r2_test_ours is None)
                   + "; its R² is shown as n/a.")
        p.data = {s.name: {"r2_test_ours": r.r2_test_ours, "r2_test_sklearn": r.r2_test_sk}
                  for s, r in zip(splits, results, strict=True)}
        if seed == study.seeds[0]:
            p.figure(loss_figure({f"{s.name}": r.losses for s, r in zip(splits, results, strict=True)},
                                 title="training loss (MSE)", log=True), f"loss-seed{seed}",
                     f"Mean training MSE per epoch (seed {seed}); the diabetes targets are standardised, the "
                     f"synthetic ones are raw (noise variance 3 is the floor); the learning rate drops at "
                     f"{round(STAGES[0][0] * epochs)} and {round(sum(s[0] for s in STAGES[:2]) * epochs)} "
                     f"epochs. Report Figure 1.1 (right).")
            p.figure(_line_figure(splits[1], syn, title="synthetic", xlabel="x", ylabel="y", true_line=True),
                     f"synthetic-fit-seed{seed}",
                     f"Synthetic data (seed {seed}): our SGD line and scikit-learn's on the training and test "
                     f"points, with the true line y = {SLOPE} x + {INTERCEPT}. Report Figures 1.1-1.2.")
            p.figure(_line_figure(splits[0], bmi, title="diabetes BMI", xlabel="BMI (standardised)",
                                  ylabel="disease progression", true_line=False), f"bmi-fit-seed{seed}",
                     f"Diabetes, BMI feature alone, scikit-learn example's split (seed {seed} for SGD only): "
                     f"both lines almost coincide.")
    seed_parts(study, ("", part, "Linear regression"))

    def noise(p: Part) -> None:
        """How much the test R² on 20 patients depends on which 20: scikit-learn over random 20-patient test sets."""
        from sklearn.datasets import load_diabetes
        from sklearn.linear_model import LinearRegression

        X, y = load_diabetes(return_X_y=True)
        x = X[:, [BMI]]
        rng = np.random.default_rng(study.seeds[0])
        draws = 50 if study.quick else 500
        scores = []
        for _ in range(draws):
            order = rng.permutation(len(y))
            te, tr = order[:BMI_TEST], order[BMI_TEST:]
            m = LinearRegression().fit(x[tr], y[tr])
            scores.append(_r2(y[te], m.predict(x[te])))
        s = np.asarray(scores)
        split = _diabetes_bmi()
        yte = split.y_test * split.y_std + split.y_mean
        A = np.c_[np.ones(BMI_TEST), split.X_test]
        best = _r2(yte, A @ np.linalg.lstsq(A, yte, rcond=None)[0])
        p.value("bmi_test_r2_spread", float(s.std(ddof=1)), unit="R2", dataset="diabetes BMI, random 20-patient tests",
                label="std of scikit-learn's test R² over random 20-patient test sets")
        p.value("bmi_best_line_test_r2", best, unit="R2", dataset=bmi_data,
                label="highest test R² any line reaches on the example's 20 test patients")
        p.table("Test R² on 20 patients: how much is chance",
                ["quantity", "value"],
                [["random 422/20 splits drawn", draws],
                 ["scikit-learn test R², mean", float(s.mean())],
                 ["scikit-learn test R², std", float(s.std(ddof=1))],
                 ["scikit-learn test R², 5th percentile", float(np.percentile(s, 5))],
                 ["scikit-learn test R², 95th percentile", float(np.percentile(s, 95))],
                 ["scikit-learn on the example's split", _r2(yte, LinearRegression().fit(
                     split.X_train, split.y_train).predict(split.X_test) * split.y_std + split.y_mean)],
                 ["best line fitted on those 20 test points", best]],
                "The BMI-only least-squares line refitted on random splits of the 442 patients (20 for testing). "
                "A line that is not the training optimum can score up to the last row on the example's test set.")
        p.note(f"On 20 test patients the test R² of least squares has a standard deviation of {s.std(ddof=1):.2f} "
               f"over random splits, so a different split alone can move it by more than the report's 0.05; and on "
               f"the example's own 20 patients some line other than the least-squares one reaches {best:.2f}, so an "
               f"SGD line slightly off the training optimum can score 0.52 there by chance. Neither means the "
               f"network is a better linear model than least squares.")

    study.part("noise", noise, title="How much a 20-patient test R² depends on the split")


STUDY = Study(
    name="diy-regression",
    title="DIY report §1.3.1: linear regression, our Linear + MSE by SGD against scikit-learn",
    description="Linear + MSE by mini-batch SGD vs scikit-learn's LinearRegression: test R² on synthetic 1-D data, "
                "diabetes BMI (scikit-learn's example split) and diabetes with 10 features.",
    document=DOC,
    section="§1.3.1 Régression linéaire (Figures 1.1, 1.2)",
    references=(
        Reference("r2_ours", 0.52, "R2", "DIY report §1.3.1 (text under Figure 1.2)",
                  "unstated (1-D data in its figures)", "test R² of the report's network"),
        Reference("r2_sklearn", 0.47, "R2", "DIY report §1.3.1 (text under Figure 1.2)",
                  "unstated (1-D data in its figures)", "test R² of scikit-learn's LinearRegression"),
    ),
    run=_run,
    seconds=3.6,
    seconds_quick=2.1,
    seeds=(0, 1, 2),
    differences=(
        "The report does not say which data its regression used; its figures show 1-D points. Its scikit-learn "
        "score, 0.47, is what scikit-learn's ordinary-least-squares gallery example (plot_ols: diabetes, BMI "
        "feature alone, last 20 patients as test set) prints (0.4726 rounded), so the keys r2_ours / r2_sklearn "
        "are measured on that data; this is our inference, not something the report states. The synthetic and "
        "10-feature diabetes data are extra.",
        "The report's SGD settings (learning rate, batch size, epochs, initialisation) are not given; ours are "
        "batch 16, 500 epochs (50 in quick mode), lr 0.01 for 60% of them then 0.002 and 0.0004 for 20% each "
        "(with a constant rate SGD keeps jittering around the optimum: 0.005-0.015 below scikit-learn's training "
        "R² on the 10-feature diabetes data), Xavier initialisation, float64.",
        "Features (and, for diabetes, targets) are standardised with the training part's statistics before SGD; "
        "scikit-learn sees the same standardised data, and R² is computed in the original target units.",
        "Least squares minimises the training error exactly, so SGD can only match scikit-learn's training R² "
        "(the train_r2_gap rows are >= 0 up to rounding); a higher test R² for the network, as in the report, "
        "comes from chance on a small test set or from a different split, not from a better model.",
    ),
)
