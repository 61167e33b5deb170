"""Mode connectivity: a loss barrier on the straight line between two trained networks, none on a
learned quadratic Bezier curve.

Question: are two independently trained networks separated by a region of high loss, and can a
simple curve between them avoid it?
Method: two ReLU networks (20-64-64-10) are trained from different initialisations with Adam on
a 10-class Gaussian mixture; the bend theta of the curve
phi(t) = (1-t)^2 w1 + 2t(1-t) theta + t^2 w2 starts at their midpoint and is trained with a
fresh t ~ U[0, 1] per minibatch; training loss (the surface the optimiser saw, as Garipov et al.
measure it) and test error are measured at 21 points along the line and along the curve. The
workunit's `pairs` independent pairs of `steps` Adam steps per phase are averaged: the result is a
function of seed and params, more cores only make it faster, and a run cut short by its deadline
is partial.
Shows: training loss rises far above the endpoints midway along the line (the barrier, in nats)
and stays nearly flat along the curve.
Reproduces: Garipov et al. (2018), "Loss Surfaces, Mode Connectivity, and Fast Ensembling of
DNNs", NeurIPS; Draxler et al. (2018), "Essentially No Barriers in Neural Network Energy
Landscape", ICML.
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
T_POINTS = np.linspace(0.0, 1.0, 21)


def settings():
    params = json.loads(os.environ.get("AXIOM_PARAMS") or "{}")
    return {
        "budget": float(os.environ.get("AXIOM_RUN_DURATION", "60")),
        "seed": int(os.environ.get("AXIOM_SEED", "0")),
        "cpus": max(1, int(os.environ.get("AXIOM_CPUS") or os.cpu_count() or 1)),
        "params": params,
        "width": int(params.get("width", 64)),
        "steps": int(params.get("steps", 1000)),
        "pairs": int(params.get("pairs", 2)),
        "spread": float(params.get("spread", 0.8)),
    }


def workers(cfg):
    """Worker processes: one per core, at most 61 on Windows (ProcessPoolExecutor refuses more there)."""
    return max(1, min(cfg["cpus"], 61)) if os.name == "nt" else cfg["cpus"]


def make_data(seed, spread, n_train=4000, n_test=2000, dim=20, classes=10):
    rng = np.random.default_rng([seed, 0])
    centers = rng.standard_normal((classes, dim)) * spread
    def sample(n):
        labels = rng.integers(0, classes, n)
        return centers[labels] + rng.standard_normal((n, dim)), labels
    return sample(n_train), sample(n_test)


def init_net(rng, sizes):
    return [a for fan_in, fan_out in zip(sizes[:-1], sizes[1:])
            for a in (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in), np.zeros(fan_out))]


def forward(weights, x):
    activations = [x]
    for layer in range(0, len(weights), 2):
        z = activations[-1] @ weights[layer] + weights[layer + 1]
        activations.append(np.maximum(z, 0.0) if layer + 2 < len(weights) else z)
    return activations


def loss_and_grads(weights, x, y):
    activations = forward(weights, x)
    logits = activations[-1] - activations[-1].max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(probs[np.arange(len(y)), y] + 1e-12))
    delta = probs
    delta[np.arange(len(y)), y] -= 1.0
    delta /= len(y)
    grads = [None] * len(weights)
    for layer in range(len(weights) - 2, -1, -2):
        grads[layer] = activations[layer // 2].T @ delta
        grads[layer + 1] = delta.sum(axis=0)
        if layer:
            delta = (delta @ weights[layer].T) * (activations[layer // 2] > 0)
    return loss, grads


def evaluate(weights, x, y):
    logits = forward(weights, x)[-1]
    logits = logits - logits.max(axis=1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return float(-np.mean(log_probs[np.arange(len(y)), y])), float(np.mean(logits.argmax(axis=1) != y))


class Adam:
    def __init__(self, params, lr=1e-3):
        self.lr, self.step = lr, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def update(self, params, grads):
        self.step += 1
        for p, g, m, v in zip(params, grads, self.m, self.v):
            m *= 0.9
            m += 0.1 * g
            v *= 0.999
            v += 0.001 * g * g
            p -= self.lr * (m / (1 - 0.9**self.step)) / (np.sqrt(v / (1 - 0.999**self.step)) + 1e-8)


def bezier(w1, theta, w2, t):
    return [(1 - t) ** 2 * a + 2 * t * (1 - t) * b + t**2 * c for a, b, c in zip(w1, theta, w2)]


def run_pair(job):
    """Trains two endpoints and the curve's bend; returns (train loss, test error) along line and
    curve, or None when the deadline came first."""
    seed, replica, steps, cfg, stop_at = job
    (x, y), (x_test, y_test) = make_data(seed, cfg["spread"])
    rng = np.random.default_rng([seed, 1, replica])
    sizes = [x.shape[1], cfg["width"], cfg["width"], 10]
    endpoints = []
    for _ in range(2):
        weights = init_net(rng, sizes)
        optimizer = Adam(weights)
        for _ in range(steps):
            batch = rng.integers(0, len(x), 128)
            optimizer.update(weights, loss_and_grads(weights, x[batch], y[batch])[1])
            if time.time() > stop_at:
                return None
        endpoints.append(weights)
    w1, w2 = endpoints
    theta = [(a + b) / 2 for a, b in zip(w1, w2)]
    optimizer = Adam(theta)
    for _ in range(steps):
        t = rng.uniform()
        batch = rng.integers(0, len(x), 128)
        _, grads = loss_and_grads(bezier(w1, theta, w2, t), x[batch], y[batch])
        optimizer.update(theta, [2 * t * (1 - t) * g for g in grads])
        if time.time() > stop_at:
            return None

    def along(path):
        return [(evaluate(w, x, y)[0], evaluate(w, x_test, y_test)[1]) for w in path]

    line = along([(1 - t) * a + t * b for a, b in zip(w1, w2)] for t in T_POINTS)
    curve = along(bezier(w1, theta, w2, t) for t in T_POINTS)
    return line, curve


def barrier(losses):
    """Largest excess of the loss over the straight interpolation of the endpoint losses."""
    losses = np.asarray(losses)
    return float(np.max(losses - ((1 - T_POINTS) * losses[0] + T_POINTS * losses[-1])))


def write(result):
    """Writes the result envelope atomically: the client never reads half a file."""
    with open(RESULT_FILE + ".tmp", "w") as handle:
        json.dump(result, handle)
    os.replace(RESULT_FILE + ".tmp", RESULT_FILE)


def write_result(cfg, outcomes, steps):
    if not outcomes:
        result = {
            "experiment": "mode_connectivity", "version": VERSION, "status": "partial", "progress": 0.0,
            "seed": cfg["seed"], "params": cfg["params"], "budget_seconds": cfg["budget"],
            "elapsed_seconds": round(time.monotonic() - START, 3), "metrics": {"pairs": 0}, "series": {},
            "summary": "no pair finished before the deadline",
        }
        write(result)
        return
    line = np.mean([[loss for loss, _ in o[0]] for o in outcomes], axis=0)
    curve = np.mean([[loss for loss, _ in o[1]] for o in outcomes], axis=0)
    line_err = np.mean([[err for _, err in o[0]] for o in outcomes], axis=0)
    curve_err = np.mean([[err for _, err in o[1]] for o in outcomes], axis=0)
    linear, bent = barrier(line), barrier(curve)
    metrics = {
        "barrier_linear": linear, "barrier_bezier": bent,
        "max_error_linear": float(line_err.max()), "max_error_bezier": float(curve_err.max()),
        "endpoint_error": float((line_err[0] + line_err[-1]) / 2), "pairs": len(outcomes), "steps": steps,
    }
    if linear > 0:  # a ratio to no barrier is not a number: absent, never a placeholder
        metrics = {"barrier_linear": linear, "barrier_ratio": bent / linear, **metrics}
    result = {
        "experiment": "mode_connectivity", "version": VERSION,
        "status": "ok" if len(outcomes) == cfg["pairs"] else "partial",
        "progress": round(len(outcomes) / cfg["pairs"], 4),
        "seed": cfg["seed"], "params": cfg["params"], "budget_seconds": cfg["budget"],
        "elapsed_seconds": round(time.monotonic() - START, 3), "metrics": metrics,
        "series": {"t": T_POINTS.tolist(), "loss_linear": line.tolist(), "loss_bezier": curve.tolist(),
                   "error_linear": line_err.tolist(), "error_bezier": curve_err.tolist()},
        "summary": (f"training-loss barrier {linear:.2f} nats on the line vs {bent:.3f} on the Bezier curve "
                    f"(peak test error {line_err.max():.0%} vs {curve_err.max():.0%}); {len(outcomes)} pairs, {steps} steps"),
    }
    write(result)


def main():
    cfg = settings()
    steps = cfg["steps"]
    stop_at = time.time() + 0.85 * cfg["budget"] - (time.monotonic() - START)
    jobs = [(cfg["seed"], r, steps, cfg, stop_at) for r in range(cfg["pairs"])]
    with ProcessPoolExecutor(max_workers=workers(cfg)) as pool:
        outcomes = [o for o in pool.map(run_pair, jobs) if o is not None]
    write_result(cfg, outcomes, steps)


if __name__ == "__main__":
    main()
