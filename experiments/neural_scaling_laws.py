"""Neural scaling law in parameter count, in a teacher-student setting.

Question: without data limits, does test loss fall as a power law L = a * N^(-alpha) + c in the
number of parameters N, with the exponent near 4/d (Sharma & Kaplan), and is that exponent a
property of the models rather than of how long they were trained?
Method: a fixed random teacher (a wide two-layer tanh network on d = 4 Gaussian inputs) labels a
pool of 65,536 samples, far more than the largest student has parameters, so data does not limit;
students are one-hidden-layer tanh networks of widths 1 to 128 (7 to 769 parameters, two decades),
all trained at once as one block-diagonal network (each student's parameters and Adam moments are
its own, so each trains exactly as it would alone) on the same minibatches, with a cosine-decayed
learning rate, for the manifest's `steps`; test loss is measured on 10,000 held-out points. The
science is fixed by the params (steps, batch, and `extra_widths`: widths added to the students, e.g. a
follow-up testing the law over a wider range of sizes); a host's speed changes only the workunit's
`seeds`: independent student initialisations whose losses are averaged before the power law is
fitted in log space. Every seed also trains the same students for half the steps: the exponent of
the half-length runs says whether the training length still decides the answer.
Shows: log test loss against log parameters is close to a straight line with an exponent near 1
(4/d for d = 4), and halving the training changes it by little.
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

VERSION = "3.1.0"
RESULT_FILE = "experiment_result.json"
START = time.monotonic()
WIDTHS = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128]
# Past this share of the budget no step is taken: the rest is for writing the result.
DEADLINE_SHARE = 0.85


def settings():
    params = json.loads(os.environ.get("AXIOM_PARAMS") or "{}")
    return {
        "budget": float(os.environ.get("AXIOM_RUN_DURATION", "60")),
        "seed": int(os.environ.get("AXIOM_SEED", "0")),
        "cpus": max(1, int(os.environ.get("AXIOM_CPUS") or os.cpu_count() or 1)),
        "params": params,
        "dim": int(params.get("dim", 4)),
        "teacher_width": int(params.get("teacher_width", 512)),
        "batch": int(params.get("batch", 128)),
        "steps": int(params.get("steps", 20000)),
        "pool": int(params.get("pool", 65536)),
        "seeds": int(params.get("seeds", 1)),
        "widths": sorted(set(WIDTHS) | {int(w) for w in params.get("extra_widths", [])[:32] if 1 <= int(w) <= 4096}),
    }


def workers(cfg):
    """Worker processes: one per core, at most 61 on Windows (ProcessPoolExecutor refuses more there)."""
    return max(1, min(cfg["cpus"], 61)) if os.name == "nt" else cfg["cpus"]


def teacher(seed, dim, width):
    rng = np.random.default_rng([seed, 0])
    w1 = rng.standard_normal((dim, width)) * 1.5 / np.sqrt(dim)
    b1 = rng.standard_normal(width) * 0.5
    w2 = rng.standard_normal(width) / np.sqrt(width)
    return lambda x: np.tanh(x @ w1 + b1) @ w2


# The teacher's data of this worker process, by seed: made once, whatever the jobs it runs.
DATA = {}


def teacher_data(seed, cfg, stop_at):
    """The training pool and test set the teacher labels, in blocks with the deadline checked between
    them (labelling 65,536 points with a 512-wide teacher takes seconds); None past the deadline."""
    if seed not in DATA:
        label = teacher(seed, cfg["dim"], cfg["teacher_width"])
        data = np.random.default_rng([seed, 3])
        x_pool = data.standard_normal((cfg["pool"], cfg["dim"]))
        x_test = data.standard_normal((10000, cfg["dim"]))
        labels = []
        for x in (x_pool, x_test):
            blocks = []
            for begin in range(0, len(x), 8192):
                if time.time() > stop_at:
                    return None
                blocks.append(label(x[begin:begin + 8192]))
            labels.append(np.concatenate(blocks))
        DATA[seed] = tuple(a.astype(np.float32) for a in (x_pool, labels[0], x_test, labels[1]))
    return DATA[seed]


def parameter_count(width, dim):
    return width * (dim + 2) + 1


def train_students(job):
    """Test MSE of every width after `steps` Adam steps, for one seed's initialisation; None when the
    deadline comes first."""
    seed, replica, steps, cfg, stop_at = job
    dim, batch, pool = cfg["dim"], cfg["batch"], cfg["pool"]
    labelled = teacher_data(seed, cfg, stop_at)
    if labelled is None:
        return replica, steps, None
    x_pool, y_pool, x_test, y_test = labelled
    widths = np.array(cfg["widths"])
    hidden, students = int(widths.sum()), len(widths)
    starts = np.concatenate([[0], np.cumsum(widths)[:-1]])
    rng = np.random.default_rng([seed, 1, replica])
    fan_in = np.repeat(widths, widths).astype(np.float64)
    params = [rng.standard_normal((dim, hidden)) / np.sqrt(dim), np.zeros(hidden),
              rng.standard_normal(hidden) / np.sqrt(fan_in), np.zeros(students)]
    params = [p.astype(np.float32) for p in params]
    moments = [np.zeros_like(p) for p in params]
    squares = [np.zeros_like(p) for p in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(1, steps + 1):
        if step % 200 == 0 and time.time() > stop_at:
            return replica, steps, None
        lr = np.float32(3e-3 * 0.5 * (1 + np.cos(np.pi * step / steps)) + 1e-5)
        index = rng.integers(0, pool, batch)
        x, y = x_pool[index], y_pool[index]
        activity = np.tanh(x @ params[0] + params[1])
        error = np.add.reduceat(activity * params[2], starts, axis=1) + params[3] - y[:, None]
        grad_out = np.float32(2.0 / batch) * error
        spread = np.repeat(grad_out, widths, axis=1)
        grad_hidden = spread * params[2] * (1 - activity * activity)
        grads = [x.T @ grad_hidden, grad_hidden.sum(0), (spread * activity).sum(0), grad_out.sum(0)]
        correction1, correction2 = np.float32(1 - beta1**step), np.float32(1 - beta2**step)
        for p, g, m, v in zip(params, grads, moments, squares):
            m *= np.float32(beta1)
            m += np.float32(1 - beta1) * g
            v *= np.float32(beta2)
            v += np.float32(1 - beta2) * g * g
            p -= lr * (m / correction1) / (np.sqrt(v / correction2) + np.float32(eps))
    activity = np.tanh(x_test @ params[0] + params[1])
    prediction = np.add.reduceat(activity * params[2], starts, axis=1) + params[3]
    return replica, steps, np.mean((prediction.astype(np.float64) - y_test[:, None]) ** 2, axis=0).tolist()


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


def write_result(cfg, full, half):
    sizes = [parameter_count(w, cfg["dim"]) for w in cfg["widths"]]
    done = len(full) + len(half)
    complete = len(full) == cfg["seeds"] and len(half) == cfg["seeds"]
    # The seeds that finished both runs: reported also when none did (then nothing else is).
    metrics = {"seeds": min(len(full), len(half)), "steps": cfg["steps"]}
    series = {"params": [], "loss": [], "loss_half_steps": [], "width": []}
    if full and half:
        # Losses averaged over the seeds that finished, in seed order.
        loss = np.mean([full[r] for r in sorted(full)], axis=0)
        loss_half = np.mean([half[r] for r in sorted(half)], axis=0)
        alpha, a, c, r2 = fit_power_law(sizes, loss)
        alpha_half = fit_power_law(sizes, loss_half)[0]
        metrics = {"alpha": alpha, "r2": r2, "coefficient": a, "floor": c, "alpha_half_steps": alpha_half,
                   "alpha_change_half_steps": (alpha - alpha_half) / alpha if alpha > 0 else 1.0,
                   "size_decades": float(np.log10(sizes[-1] / sizes[0])), "steps": cfg["steps"],
                   "seeds": min(len(full), len(half))}
        series = {"params": sizes, "loss": loss.tolist(), "loss_half_steps": loss_half.tolist(), "width": cfg["widths"]}
    result = {
        "experiment": "neural_scaling_laws", "version": VERSION, "status": "ok" if complete else "partial",
        "progress": round(done / (2 * cfg["seeds"]), 4),
        "seed": cfg["seed"], "params": cfg["params"], "budget_seconds": cfg["budget"],
        "elapsed_seconds": round(time.monotonic() - START, 3), "metrics": metrics, "series": series,
        "summary": (
            f"test loss ~ N^-{metrics['alpha']:.2f} (+ {metrics['floor']:.2g}), r2 {metrics['r2']:.3f}, over {len(cfg['widths'])} sizes "
            f"spanning {metrics['size_decades']:.1f} decades, {cfg['steps']} steps, {metrics['seeds']} seeds; "
            f"at half the steps the exponent is {metrics['alpha_half_steps']:.2f}"
            if "alpha" in metrics else "no seed finished both its runs before the deadline"
        ),
    }
    with open(RESULT_FILE + ".tmp", "w") as handle:
        json.dump(result, handle)
    os.replace(RESULT_FILE + ".tmp", RESULT_FILE)


def main():
    cfg = settings()
    stop_at = time.time() + DEADLINE_SHARE * cfg["budget"] - (time.monotonic() - START)
    # Every seed's full run first (the longest jobs), then the half-length ones, in a fixed order.
    jobs = [(cfg["seed"], r, cfg["steps"], cfg, stop_at) for r in range(cfg["seeds"])]
    jobs += [(cfg["seed"], r, cfg["steps"] // 2, cfg, stop_at) for r in range(cfg["seeds"])]
    full, half = {}, {}
    with ProcessPoolExecutor(max_workers=min(workers(cfg), len(jobs))) as pool:
        for replica, steps, losses in pool.map(train_students, jobs):
            if losses is not None:
                (full if steps == cfg["steps"] else half)[replica] = losses
    write_result(cfg, full, half)


if __name__ == "__main__":
    main()
