"""Catastrophic forgetting, and whether its curve tells a power law from an exponential.

Question: when a network trained on task A is trained on task B, how much of A does it lose, and
does the decay of its accuracy on A with the steps on B follow a power law or an exponential?
Method: an MLP (20-128-128-10, ReLU) learns task A (labels of a random teacher network on Gaussian
inputs) with SGD, then task B (the same teacher on a fixed permutation of the inputs); A's test
accuracy is measured at 40 log-spaced steps of training on B, over three decades. Retention
r(t) = (acc_A(t) - chance) / (acc_A(0) - chance), averaged over independent runs, is fitted by a
power law with a floor, r = (1 - c)(1 + t/tau)^-beta + c, and by an exponential with a floor,
r = (1 - c) e^(-t/tau) + c, each by least squares over the log-spaced points (the floor in closed
form for every other parameter on a grid), and the two are compared by Akaike's criterion with
their own parameter counts (3 and 2). The science is fixed by the params (steps, learning rate,
permutation); a host's speed changes only the workunit's `runs`.
Shows: A is largely forgotten within a few hundred steps on B. With a floor in both models the
curve does not tell them apart: the preference for the exponential an earlier version reported
came from giving only the exponential a floor while A ends below chance. Formerly
`power_law_forgetting`, whose name claimed the power law.
Reproduces: McCloskey & Cohen (1989); Kirkpatrick et al. (2017), PNAS 114:3521; on the shape,
Wixted & Ebbesen (1991), Psychological Science 2:409, and Kalajdzievski (2024), arXiv:2401.05605.
"""

import os

# One BLAS thread per worker process: the parallelism comes from the processes.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import json
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

VERSION = "1.0.1"
RESULT_FILE = "experiment_result.json"
START = time.monotonic()
SIZES = [20, 128, 128, 10]
CLASSES = 10


def settings():
    params = json.loads(os.environ.get("AXIOM_PARAMS") or "{}")
    return {
        "budget": float(os.environ.get("AXIOM_RUN_DURATION", "60")),
        "seed": int(os.environ.get("AXIOM_SEED", "0")),
        "cpus": max(1, int(os.environ.get("AXIOM_CPUS") or os.cpu_count() or 1)),
        "params": params,
        "steps_a": int(params.get("steps_a", 3000)),
        "steps_b": int(params.get("steps_b", 4000)),
        "lr": float(params.get("lr", 0.05)),
        "log_points": int(params.get("log_points", 40)),
        "permuted_fraction": float(params.get("permuted_fraction", 1.0)),
        "runs": int(params.get("runs", 2)),
    }


def workers(cfg):
    """Worker processes: one per core, at most 61 on Windows (ProcessPoolExecutor refuses more there)."""
    return max(1, min(cfg["cpus"], 61)) if os.name == "nt" else cfg["cpus"]


def tasks(seed, permuted_fraction):
    """Task A: a random teacher's labels; task B: the same teacher with a fraction of its inputs permuted."""
    rng = np.random.default_rng([seed, 0])
    w1 = rng.standard_normal((SIZES[0], 64)) / np.sqrt(SIZES[0])
    w2 = rng.standard_normal((64, CLASSES))
    moved = rng.permutation(SIZES[0])[: int(round(permuted_fraction * SIZES[0]))]
    permutation = np.arange(SIZES[0])
    permutation[moved] = rng.permutation(moved)
    def label(x):
        return np.argmax(np.tanh(x @ w1) @ w2, axis=1)
    x_train, x_test = rng.standard_normal((20000, SIZES[0])), rng.standard_normal((4000, SIZES[0]))
    task_a = (x_train, label(x_train), x_test, label(x_test))
    task_b = (x_train[:, permutation], label(x_train), x_test[:, permutation], label(x_test))
    return task_a, task_b


def forward(weights, x):
    activations = [x]
    for i in range(0, len(weights), 2):
        z = activations[-1] @ weights[i] + weights[i + 1]
        activations.append(np.maximum(z, 0.0) if i + 2 < len(weights) else z)
    return activations


def sgd_step(weights, x, y, lr):
    activations = forward(weights, x)
    logits = activations[-1] - activations[-1].max(axis=1, keepdims=True)
    delta = np.exp(logits)
    delta /= delta.sum(axis=1, keepdims=True)
    delta[np.arange(len(y)), y] -= 1.0
    delta /= len(y)
    for i in range(len(weights) - 2, -1, -2):
        grad_w, grad_b = activations[i // 2].T @ delta, delta.sum(axis=0)
        if i:
            delta = (delta @ weights[i].T) * (activations[i // 2] > 0)
        weights[i] -= lr * grad_w
        weights[i + 1] -= lr * grad_b


def accuracy(weights, x, y):
    return float(np.mean(forward(weights, x)[-1].argmax(axis=1) == y))


def run(job):
    """Learns A, then B; returns A's accuracy before B and at each logged step of B, and B's final accuracy.

    Stops at the deadline: a run that cannot start returns None, one that is cut short returns the
    logged steps it reached.
    """
    seed, replica, cfg, log_steps, deadline = job
    if time.monotonic() > deadline:
        return None
    task_a, task_b = tasks(seed, cfg["permuted_fraction"])
    rng = np.random.default_rng([seed, 1, replica])
    weights = [a for n_in, n_out in zip(SIZES[:-1], SIZES[1:]) for a in (rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in), np.zeros(n_out))]
    for step in range(cfg["steps_a"]):
        if step % 10 == 0 and time.monotonic() > deadline:
            return None
        batch = rng.integers(0, len(task_a[0]), 64)
        sgd_step(weights, task_a[0][batch], task_a[1][batch], cfg["lr"])
    before = accuracy(weights, task_a[2], task_a[3])
    curve, wanted = [], set(log_steps)
    for step in range(1, max(log_steps) + 1):
        # Logged steps are log-spaced, so the deadline is checked between them too, every 10 steps (100
        # steps took 0.3 s on the reference BLAS of a 2-core host busy with other work).
        if step % 10 == 0 and time.monotonic() > deadline:
            break
        batch = rng.integers(0, len(task_b[0]), 64)
        sgd_step(weights, task_b[0][batch], task_b[1][batch], cfg["lr"])
        if step in wanted:
            curve.append(accuracy(weights, task_a[2], task_a[3]))
    return before, curve, accuracy(weights, task_b[2], task_b[3])


def fit(model, t, r):
    """Least-squares fit, in retention space, of a model with a floor c: the shape's parameters on a grid,
    the floor in closed form for each (clipped to [-0.5, 1]); returns (r2, tau, shape, floor, sse)."""
    taus = np.geomspace(0.1, 1e6, 300)[:, None, None]
    if model == "power":
        betas = np.geomspace(0.005, 50.0, 300)[None, :, None]
        shape = (1 + t[None, None, :] / taus) ** -betas
        others = betas
    else:
        shape = np.exp(-t[None, None, :] / taus)
        others = np.zeros((1, 1, 1))
    # r = c + (1 - c) g  <=>  r - g = c (1 - g): the best c for each shape g.
    rest = 1.0 - shape
    floor = np.clip(np.sum((r - shape) * rest, axis=2) / np.maximum(np.sum(rest * rest, axis=2), 1e-300), -0.5, 1.0)
    predicted = floor[..., None] + (1 - floor[..., None]) * shape
    errors = np.sum((predicted - r[None, None, :]) ** 2, axis=2)
    i, j = np.unravel_index(np.argmin(errors), errors.shape)
    total = np.sum((r - r.mean()) ** 2)
    r2 = 1 - errors[i, j] / total if total > 0 else 0.0
    return float(r2), float(taus[i, 0, 0]), float(others[0, min(j, others.shape[1] - 1), 0]), float(floor[i, j]), float(errors[i, j])


def main():
    cfg = settings()
    log_steps = sorted({int(round(s)) for s in np.geomspace(1, cfg["steps_b"], cfg["log_points"])})
    # The budget is a deadline inside every run too: a loaded host ends with a partial result, on time.
    deadline = START + 0.85 * cfg["budget"]
    jobs = [(cfg["seed"], replica, cfg, log_steps, deadline) for replica in range(cfg["runs"])]
    with ProcessPoolExecutor(max_workers=workers(cfg)) as pool:
        outcomes = [o for o in pool.map(run, jobs) if o is not None and len(o[1]) >= 2]
    write_result(cfg, outcomes, log_steps)


def write(result):
    """Writes the result envelope atomically: the client never reads half a file."""
    with open(RESULT_FILE + ".tmp", "w") as handle:
        json.dump(result, handle)
    os.replace(RESULT_FILE + ".tmp", RESULT_FILE)


def write_result(cfg, outcomes, log_steps):
    chance = 1.0 / CLASSES
    if not outcomes:
        # Not even one run reached two logged steps before the deadline.
        result = {
            "experiment": "catastrophic_forgetting", "version": VERSION, "status": "partial", "progress": 0.0,
            "seed": cfg["seed"], "params": cfg["params"], "budget_seconds": cfg["budget"],
            "elapsed_seconds": round(time.monotonic() - START, 3), "metrics": {"runs": 0}, "series": {},
            "summary": "no run reached two logged steps of task B before the deadline",
        }
        write(result)
        return
    # Runs cut short by the deadline share the logged steps they all reached.
    reached = min(len(o[1]) for o in outcomes)
    planned = len(log_steps)
    cut = reached < planned
    log_steps = log_steps[:reached]
    before = float(np.mean([o[0] for o in outcomes]))
    curve = np.mean([o[1][:reached] for o in outcomes], axis=0)
    t = np.asarray(log_steps, float)
    retention = (curve - chance) / (before - chance)
    power_r2, power_tau, exponent, power_floor, power_sse = fit("power", t, retention)
    exp_r2, exp_tau, _, floor, exp_sse = fit("exponential", t, retention)
    # Akaike's criterion for least squares, n ln(SSE / n) + 2k, with k = 3 for the power law and 2 for
    # the exponential: AIC(power) - AIC(exponential). Over 2: the exponential is preferred; under -2,
    # the power law; between, the curve does not tell them apart.
    n = len(t)
    delta_aic = float(n * np.log(max(power_sse, 1e-300) / max(exp_sse, 1e-300)) + 2 * (3 - 2))
    metrics = {
        "forgetting": before - float(curve[-1]),
        "delta_aic": delta_aic,
        "power_law_r2": power_r2,
        "exponential_r2": exp_r2,
        "exponent": exponent,
        "power_law_tau": power_tau,
        "power_law_floor": power_floor,
        "exponential_tau": exp_tau,
        "exponential_floor": floor,
        "task_a_acc_before": before,
        "task_a_acc_after": float(curve[-1]),
        "task_b_acc": float(np.mean([o[2] for o in outcomes])),
        "runs": len(outcomes),
        "steps_b": cfg["steps_b"],
    }
    result = {
        "experiment": "catastrophic_forgetting", "version": VERSION,
        "status": "ok" if len(outcomes) == cfg["runs"] and not cut else "partial",
        "progress": round(len(outcomes) / cfg["runs"] * reached / planned, 4),
        "seed": cfg["seed"], "params": cfg["params"], "budget_seconds": cfg["budget"],
        "elapsed_seconds": round(time.monotonic() - START, 3), "metrics": metrics,
        "series": {"step": log_steps, "task_a_acc": curve.tolist(), "retention": retention.tolist()},
        "summary": (
            f"task A accuracy fell from {before:.3f} to {curve[-1]:.3f} over {log_steps[-1]} steps on B; "
            f"with a floor each, power law r2 {power_r2:.3f} (exponent {exponent:.2f}) vs exponential r2 {exp_r2:.3f}, AIC difference "
            f"{delta_aic:.1f} ({'exponential' if delta_aic > 2 else 'power law' if delta_aic < -2 else 'neither'} preferred); {len(outcomes)} runs"
        ),
    }
    write(result)


if __name__ == "__main__":
    main()
