"""Double descent in random-features regression.

Question: does test error peak where the number of fitted parameters equals the
number of training points, and fall again as the model keeps growing?
Method: random ReLU features of a fixed Gaussian projection, fitted by
minimum-norm least squares (pseudo-inverse, no ridge), on a nonlinear target
with label noise; the width p is swept across the interpolation threshold
p = n (densely near it, never at the singular point itself; `extra_widths` adds widths to the
sweep, e.g. a follow-up resolving the peak more finely), and averaged over the
`seeds` the workunit asks for: the result is a function of seed and params, and
more cores only make it faster. A run that reaches its deadline first says how far
it got (a partial result).
Shows: test error against width rises to a sharp peak close to p = n while the
training error reaches zero, then descends again below its classical minimum (the
best width of the underparameterised regime, p <= n / 2): the second descent.
Reproduces: Belkin, Hsu, Ma & Mandal (2019), "Reconciling modern machine-learning
practice and the classical bias-variance trade-off", PNAS 116(32):15849-15854.
"""

import os

# One BLAS thread per worker process: the parallelism comes from the processes.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import json
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

import numpy as np

VERSION = "2.1.0"
RESULT_FILE = "experiment_result.json"
START = time.monotonic()


def settings():
    params = json.loads(os.environ.get("AXIOM_PARAMS") or "{}")
    return {
        "budget": float(os.environ.get("AXIOM_RUN_DURATION", "60")),
        "seed": int(os.environ.get("AXIOM_SEED", "0")),
        "cpus": max(1, int(os.environ.get("AXIOM_CPUS") or os.cpu_count() or 1)),
        "params": params,
        "n_train": int(params.get("n_train", 200)),
        "dim": int(params.get("dim", 20)),
        "noise": float(params.get("noise", 0.5)),
        "n_test": int(params.get("n_test", 2000)),
        "seeds": int(params.get("seeds", 3)),
        "extra_widths": [int(w) for w in params.get("extra_widths", [])][:64],
    }


def workers(cfg):
    """Worker processes: one per core, at most 61 on Windows (ProcessPoolExecutor refuses more there)."""
    return max(1, min(cfg["cpus"], 61)) if os.name == "nt" else cfg["cpus"]


def widths_for(n_train, extra=()):
    """Coarse log grid from n/20 to 25n, dense between 0.7n and 1.4n, and the extra widths (2 to 25n),
    without p = n itself.

    At p = n exactly the pseudo-inverse of a square random matrix is unbounded in expectation, so a
    peak measured there says nothing about the curve: the headline must not rest on it.
    """
    coarse = np.geomspace(max(2, n_train // 20), 25 * n_train, 22)
    dense = np.linspace(0.7 * n_train, 1.4 * n_train, 15)
    added = {w for w in extra if 2 <= w <= 25 * n_train}
    return sorted(({int(round(w)) for w in np.concatenate([coarse, dense])} | added) - {n_train})


def make_task(base_seed, repeat, dim, n_train, n_test, noise):
    rng = np.random.default_rng([base_seed, repeat])
    w_teacher = rng.standard_normal(dim) / np.sqrt(dim)
    v_teacher = rng.standard_normal(dim) / np.sqrt(dim)

    def target(x):
        return np.tanh(2.0 * x @ w_teacher) + 0.5 * (x @ v_teacher) ** 2

    x_train = rng.standard_normal((n_train, dim))
    x_test = rng.standard_normal((n_test, dim))
    y_train = target(x_train) + noise * rng.standard_normal(n_train)
    return x_train, y_train, x_test, target(x_test)


def fit_width(job):
    """Train and test error of the minimum-norm fit with `width` random ReLU features."""
    base_seed, repeat, width, cfg = job
    started = time.monotonic()
    x_train, y_train, x_test, y_test = make_task(base_seed, repeat, cfg["dim"], cfg["n_train"], cfg["n_test"], cfg["noise"])
    rng = np.random.default_rng([base_seed, repeat, width])
    projection = rng.standard_normal((cfg["dim"], width)) / np.sqrt(cfg["dim"])
    features_train = np.maximum(x_train @ projection, 0.0) / np.sqrt(width)
    features_test = np.maximum(x_test @ projection, 0.0) / np.sqrt(width)
    coef = np.linalg.pinv(features_train, rcond=1e-12) @ y_train
    train_error = float(np.mean((features_train @ coef - y_train) ** 2))
    test_error = float(np.mean((features_test @ coef - y_test) ** 2))
    return repeat, width, train_error, test_error, time.monotonic() - started


def averages(widths, errors):
    """Mean errors per width over the seeds that finished every width (all seeds so far when none has),
    in seed order, so that the numbers do not depend on which worker finished first."""
    complete = sorted(r for r, by_width in errors.items() if len(by_width) == len(widths))
    repeats = complete or sorted(errors)
    series = {"width": [], "train_error": [], "test_error": []}
    for width in widths:
        values = [errors[r][width] for r in repeats if width in errors[r]]
        if values:
            series["width"].append(width)
            series["train_error"].append(float(np.mean([v[0] for v in values])))
            series["test_error"].append(float(np.mean([v[1] for v in values])))
    return series, len(complete)


def write_result(cfg, widths, errors):
    series, seeds = averages(widths, errors)
    test, train, width_series = series["test_error"], series["train_error"], series["width"]
    classical = [e for w, e in zip(width_series, test) if w <= cfg["n_train"] // 2]
    # The seeds that finished every width: reported also when none did (then nothing else is).
    metrics = {"seeds": 0}
    if test and classical:
        peak = int(np.argmax(test))
        metrics = {
            "large_over_classical_min": test[-1] / min(classical),
            "peak_over_large": test[peak] / test[-1],
            "n_train": cfg["n_train"],
            "peak_width": width_series[peak],
            "peak_width_ratio": width_series[peak] / cfg["n_train"],
            "peak_test_error": test[peak],
            "classical_min_test_error": min(classical),
            "test_error_large": test[-1],
            "train_error_large": train[-1],
            "seeds": seeds,
        }
    done = sum(len(by_width) for by_width in errors.values())
    result = {
        "experiment": "double_descent",
        "version": VERSION,
        "status": "ok" if seeds == cfg["seeds"] else "partial",
        "progress": round(done / (cfg["seeds"] * len(widths)), 4),
        "seed": cfg["seed"],
        "params": cfg["params"],
        "budget_seconds": cfg["budget"],
        "elapsed_seconds": round(time.monotonic() - START, 3),
        "metrics": metrics,
        "series": series,
        "summary": (
            f"peak test error {metrics['peak_test_error']:.3g} at width {metrics['peak_width']} (n = {cfg['n_train']}), "
            f"{metrics['peak_over_large']:.1f}x the error at width {width_series[-1]}, which is "
            f"{metrics['large_over_classical_min']:.2f}x the best underparameterised error; {seeds} of {cfg['seeds']} seeds"
            if "peak_width" in metrics
            else "no width finished before the deadline"
        ),
    }
    with open(RESULT_FILE + ".tmp", "w") as handle:
        json.dump(result, handle)
    os.replace(RESULT_FILE + ".tmp", RESULT_FILE)


def main():
    cfg = settings()
    widths = widths_for(cfg["n_train"], cfg["extra_widths"])
    # Stop starting work at 85 % of the budget, leaving time to write the result.
    deadline = START + 0.85 * cfg["budget"]
    errors = {}  # repeat -> width -> (train error, test error)
    # Twice the longest fit so far foresees the next: widths grow by less than that from one to the next.
    longest = 0.0
    jobs = iter([(cfg["seed"], repeat, w, cfg) for repeat in range(cfg["seeds"]) for w in widths])
    pending = set()
    with ProcessPoolExecutor(max_workers=workers(cfg)) as pool:
        while True:
            # One fit per worker at a time, and none that would end past the deadline: a fit cannot be
            # stopped once started, and the pool waits for every fit it started.
            while len(pending) < workers(cfg):
                job = next(jobs, None)
                if job is None or time.monotonic() + 2 * longest > deadline:
                    jobs = iter(())
                    break
                pending.add(pool.submit(fit_width, job))
            if not pending:
                break
            finished, pending = wait(pending, timeout=max(0.05, deadline - time.monotonic()), return_when=FIRST_COMPLETED)
            for future in finished:
                repeat, width, train_error, test_error, seconds = future.result()
                errors.setdefault(repeat, {})[width] = (train_error, test_error)
                longest = max(longest, seconds)
            if time.monotonic() >= deadline:
                for future in pending:
                    future.cancel()
                break
    write_result(cfg, widths, errors)


if __name__ == "__main__":
    main()
