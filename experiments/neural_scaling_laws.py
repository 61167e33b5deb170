"""Neural scaling law in parameter count, in a teacher-student setting.

Question: without data limits, does test loss fall as a power law L = a * N^(-alpha) + c in the
number of parameters N?
Method: a fixed random teacher (a wide two-layer tanh network on d = 4 Gaussian inputs) labels
a pool of 65,536 samples, over 40 times the largest student's parameters, so data does not limit; students are one-hidden-layer tanh networks of
widths 2 to 256 (13 to 1,537 parameters, two decades), each trained with Adam and a decaying
learning rate for the same number of steps (the workunit's `steps`: the result is a function of
seed and params, more cores only make it faster); test loss is measured
on 10,000 held-out points, and the power law is fitted in log space.
Shows: log test loss against log parameters is close to a straight line, with exponent alpha
well above zero (the resolution-limited regime, where alpha is roughly 4/d or somewhat lower).
Reproduces: Kaplan et al. (2020), "Scaling Laws for Neural Language Models", arXiv:2001.08361;
Sharma & Kaplan (2022), "Scaling Laws from the Data Manifold Dimension", JMLR 23(9).
"""

import os

# One BLAS thread per worker process: the parallelism comes from the processes.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import json
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

VERSION = "2.0.0"
RESULT_FILE = "experiment_result.json"
START = time.monotonic()
WIDTHS = [2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256]


def settings():
    params = json.loads(os.environ.get("AXIOM_PARAMS") or "{}")
    return {
        "budget": float(os.environ.get("AXIOM_RUN_DURATION", "60")),
        "seed": int(os.environ.get("AXIOM_SEED", "0")),
        "cpus": max(1, int(os.environ.get("AXIOM_CPUS") or os.cpu_count() or 1)),
        "params": params,
        "dim": int(params.get("dim", 4)),
        "teacher_width": int(params.get("teacher_width", 512)),
        "batch": int(params.get("batch", 256)),
        "steps": int(params.get("steps", 2000)),
        "pool": int(params.get("pool", 65536)),
    }


def workers(cfg):
    """Worker processes: one per core, at most 61 on Windows (ProcessPoolExecutor refuses more there)."""
    return max(1, min(cfg["cpus"], 61)) if os.name == "nt" else cfg["cpus"]


# Past this point no step is taken: the rest of the budget is for writing the result.
DEADLINE_SHARE = 0.85


def teacher(seed, dim, width):
    rng = np.random.default_rng([seed, 0])
    w1 = rng.standard_normal((dim, width)) * 1.5 / np.sqrt(dim)
    b1 = rng.standard_normal(width) * 0.5
    w2 = rng.standard_normal(width) / np.sqrt(width)
    return lambda x: np.tanh(x @ w1 + b1) @ w2


# Training and test data of the worker process, made once by init_worker.
DATA = {}


def init_worker(seed, cfg):
    """Labels a training pool (far more samples than the largest student has parameters) and a test set."""
    label = teacher(seed, cfg["dim"], cfg["teacher_width"])
    rng = np.random.default_rng([seed, 3])
    x_train = rng.standard_normal((cfg["pool"], cfg["dim"]))
    x_test = rng.standard_normal((10000, cfg["dim"]))
    DATA.update(x_train=x_train, y_train=label(x_train), x_test=x_test, y_test=label(x_test))


def parameter_count(width, dim):
    return width * (dim + 2) + 1


def train_student(job):
    """Test MSE of a student of `width` trained for `steps` Adam steps on fresh teacher samples."""
    seed, width, steps, cfg, stop_at = job
    dim, batch = cfg["dim"], cfg["batch"]
    if not DATA:
        init_worker(seed, cfg)
    x_pool, y_pool = DATA["x_train"], DATA["y_train"]
    rng = np.random.default_rng([seed, 1, width])
    params = [rng.standard_normal((dim, width)) / np.sqrt(dim), np.zeros(width), rng.standard_normal(width) / np.sqrt(width), np.zeros(1)]
    moments = [np.zeros_like(p) for p in params]
    squares = [np.zeros_like(p) for p in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-8

    def test_loss():
        prediction = np.tanh(DATA["x_test"] @ params[0] + params[1]) @ params[2] + params[3]
        return float(np.mean((prediction - DATA["y_test"]) ** 2))

    # The loss four fifths of the way through says whether the run had converged by its end.
    checkpoint, at_checkpoint = int(0.8 * steps), None
    for step in range(1, steps + 1):
        if step == checkpoint:
            at_checkpoint = test_loss()
        if step % 200 == 0 and time.time() > stop_at:
            return width, None, None  # out of time: the result is partial
        lr = 3e-3 * 0.5 * (1 + np.cos(np.pi * step / steps)) + 1e-5
        batch_index = rng.integers(0, len(x_pool), batch)
        x, y = x_pool[batch_index], y_pool[batch_index]
        hidden = np.tanh(x @ params[0] + params[1])
        error = hidden @ params[2] + params[3] - y
        grad_out = 2 * error / batch
        grad_hidden = np.outer(grad_out, params[2]) * (1 - hidden**2)
        grads = [x.T @ grad_hidden, grad_hidden.sum(0), hidden.T @ grad_out, np.array([grad_out.sum()])]
        for p, g, m, v in zip(params, grads, moments, squares):
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * g * g
            p -= lr * (m / (1 - beta1**step)) / (np.sqrt(v / (1 - beta2**step)) + eps)
    final = test_loss()
    return width, final, at_checkpoint if at_checkpoint is not None else final


def fit_power_law(sizes, losses):
    """Best L = a * N^(-alpha) + c in log space, over a grid of floors c; returns (alpha, a, c, r2)."""
    n, loss = np.log(np.asarray(sizes, float)), np.asarray(losses, float)
    best = (0.0, 0.0, 0.0, -np.inf)
    for c in np.concatenate([[0.0], np.min(loss) * np.linspace(0.01, 0.95, 60)]):
        y = np.log(loss - c)
        slope, intercept = np.polyfit(n, y, 1)
        residual = y - (slope * n + intercept)
        r2 = 1 - residual.var() / y.var() if y.var() > 0 else 0.0
        if r2 > best[3] + 1e-4:
            best = (-slope, float(np.exp(intercept)), float(c), float(r2))
    return best


def write_result(cfg, losses, steps, checkpoints):
    widths = sorted(losses)
    sizes = [parameter_count(w, cfg["dim"]) for w in widths]
    loss_values = [losses[w] for w in widths]
    metrics = {}
    if len(widths) >= 3:
        alpha, a, c, r2 = fit_power_law(sizes, loss_values)
        # How much each size still improved over the last fifth of its steps: small when converged.
        late = max((checkpoints[w] - losses[w]) / checkpoints[w] for w in widths if checkpoints[w] > 0)
        metrics = {"alpha": alpha, "r2": r2, "coefficient": a, "floor": c, "sizes": len(widths),
                   "size_decades": float(np.log10(sizes[-1] / sizes[0])), "steps": steps,
                   "late_improvement_max": float(late)}
    complete = len(widths) == len(WIDTHS)
    missing = [w for w in WIDTHS if w not in losses]
    result = {
        "experiment": "neural_scaling_laws", "version": VERSION, "status": "ok" if complete else "partial",
        "progress": round(len(widths) / len(WIDTHS), 4),
        "seed": cfg["seed"], "params": cfg["params"], "budget_seconds": cfg["budget"],
        "elapsed_seconds": round(time.monotonic() - START, 3), "metrics": metrics,
        "series": {"params": sizes, "loss": loss_values, "width": widths},
        "summary": (
            f"test loss ~ N^-{metrics['alpha']:.2f} (+ {metrics['floor']:.2g}), r2 {metrics['r2']:.3f}, over {len(widths)} sizes "
            f"spanning {metrics['size_decades']:.1f} decades, {steps} steps each"
            + (f"; widths {', '.join(map(str, missing))} did not finish before the deadline" if missing else "")
            if metrics else "too few sizes finished to fit"
        ),
    }
    with open(RESULT_FILE + ".tmp", "w") as handle:
        json.dump(result, handle)
    os.replace(RESULT_FILE + ".tmp", RESULT_FILE)


def main():
    cfg = settings()
    steps = cfg["steps"]
    stop_at = time.time() + DEADLINE_SHARE * cfg["budget"] - (time.monotonic() - START)
    losses, checkpoints = {}, {}
    with ProcessPoolExecutor(max_workers=workers(cfg), initializer=init_worker, initargs=(cfg["seed"], cfg)) as pool:
        # Largest first, so that no core idles while the last long job runs; the small ones are quick.
        for width, loss, checkpoint in pool.map(train_student, [(cfg["seed"], w, steps, cfg, stop_at) for w in reversed(WIDTHS)]):
            if loss is not None:
                losses[width], checkpoints[width] = loss, checkpoint
    write_result(cfg, losses, steps, checkpoints)


if __name__ == "__main__":
    main()
