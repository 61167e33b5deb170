"""The information plane of a small tanh network: fitting, then compression.

Question: during training, does each hidden layer first gain information about the input and
the label, and then lose information about the input (compression) while keeping what it knows
about the label?
Method: all 4,096 12-bit inputs, labelled by thresholding |sum of +-1 bits times the 12 vertices
of an icosahedron|^2 at its median (balanced labels, I(X;Y) about 1 bit); a tanh network
12-10-7-5-4-3-2 trained with Adam (lr 1e-3, batch 256) on 80 % of them; at 40 log-spaced epochs
every hidden layer's activations on all inputs are binned (30 bins on [-1, 1]) and I(X;T) = H(T),
I(T;Y) computed from the counts. The control: every run again with ReLU, which does not saturate
(30 bins up to each layer's largest activation); Saxe et al. (2018) found that compression comes
from tanh's saturation and is absent with ReLU. The workunit's `runs` runs of `epochs` epochs (and
as many controls) are averaged: the
result is a function of seed and params, more cores only make it faster, and a run cut short by
its deadline is partial.
Shows: I(T;Y) of the last hidden layer rises to near I(X;Y); its I(X;T) peaks early and then
falls by several bits as training goes on (compression, a saturation effect of tanh).
Reproduces: Shwartz-Ziv & Tishby (2017), "Opening the Black Box of Deep Neural Networks via
Information", arXiv:1703.00810; see Saxe et al. (2018), ICLR, on why tanh compresses.
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
SIZES = [12, 10, 7, 5, 4, 3, 2]
HIDDEN = len(SIZES) - 2
BINS = np.linspace(-1.0, 1.0, 31)


def settings():
    params = json.loads(os.environ.get("AXIOM_PARAMS") or "{}")
    return {
        "budget": float(os.environ.get("AXIOM_RUN_DURATION", "60")),
        "seed": int(os.environ.get("AXIOM_SEED", "0")),
        "cpus": max(1, int(os.environ.get("AXIOM_CPUS") or os.cpu_count() or 1)),
        "params": params,
        "epochs": int(params.get("epochs", params.get("max_epochs", 1000))),
        "runs": int(params.get("runs", 2)),
        "log_points": int(params.get("log_points", 40)),
    }


def workers(cfg):
    """Worker processes: one per core, at most 61 on Windows (ProcessPoolExecutor refuses more there)."""
    return max(1, min(cfg["cpus"], 61)) if os.name == "nt" else cfg["cpus"]


def dataset():
    """All 12-bit inputs and their balanced, spherically symmetric labels."""
    golden = (1 + 5**0.5) / 2
    vertices = np.array([(0, s1, s2 * golden) for s1 in (-1, 1) for s2 in (-1, 1)], float)
    vertices = np.concatenate([vertices, np.roll(vertices, 1, axis=1), np.roll(vertices, 2, axis=1)])
    bits = (np.arange(4096)[:, None] >> np.arange(12)) & 1
    signs = 2.0 * bits - 1.0
    radius = np.sum((signs @ vertices) ** 2, axis=1)
    return bits.astype(float), (radius > np.median(radius)).astype(int)


def entropy(counts):
    p = counts[counts > 0] / counts.sum()
    return float(-np.sum(p * np.log2(p)))


def information(activity, labels, relu=False):
    """I(X;T) and I(T;Y) in bits of one layer's binned activity over all (uniform) inputs: 30 bins
    on [-1, 1] for tanh, on [0, the layer's largest activation] for the ReLU control."""
    bins = np.linspace(0.0, float(activity.max()) + 1e-12, 31) if relu else BINS
    codes = np.digitize(activity, bins)
    _, cell = np.unique(codes, axis=0, return_inverse=True)
    cell = cell.ravel()
    joint = np.zeros((cell.max() + 1, 2))
    np.add.at(joint, (cell, labels), 1.0)
    i_xt = entropy(joint.sum(axis=1))
    i_ty = entropy(joint.sum(axis=0)) + i_xt - entropy(joint.ravel())
    return i_xt, i_ty


def forward(weights, x, relu=False):
    activations = [x]
    for i in range(0, len(weights), 2):
        z = activations[-1] @ weights[i] + weights[i + 1]
        hidden = np.maximum(z, 0.0) if relu else np.tanh(z)
        activations.append(hidden if i + 2 < len(weights) else z)
    return activations


def train_run(job):
    """One training run; returns its information plane at the log epochs and its test accuracy.

    Stops at the deadline: a run that cannot start returns None, one cut short returns the log
    epochs it reached.
    """
    seed, run, epochs, log_epochs, deadline, *control = job
    relu = bool(control and control[0])
    if time.monotonic() > deadline:
        return None
    x, y = dataset()
    rng = np.random.default_rng([seed, run])
    order = rng.permutation(len(x))
    train, test = order[: int(0.8 * len(x))], order[int(0.8 * len(x)):]
    weights = [a for n_in, n_out in zip(SIZES[:-1], SIZES[1:])
               for a in (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in), np.zeros(n_out))]
    first = [np.zeros_like(w) for w in weights]
    second = [np.zeros_like(w) for w in weights]
    plane, step, wanted = [], 0, set(log_epochs)
    for epoch in range(1, epochs + 1):
        # Logged epochs are log-spaced, so the deadline is checked at every epoch.
        if time.monotonic() > deadline:
            break
        shuffled = rng.permutation(train)
        for begin in range(0, len(shuffled), 256):
            batch = shuffled[begin:begin + 256]
            activations = forward(weights, x[batch], relu)
            logits = activations[-1] - activations[-1].max(axis=1, keepdims=True)
            delta = np.exp(logits)
            delta /= delta.sum(axis=1, keepdims=True)
            delta[np.arange(len(batch)), y[batch]] -= 1.0
            delta /= len(batch)
            step += 1
            for i in range(len(weights) - 2, -1, -2):
                grads = (activations[i // 2].T @ delta, delta.sum(axis=0))
                if i:
                    slope = (activations[i // 2] > 0) if relu else (1.0 - activations[i // 2] ** 2)
                    delta = (delta @ weights[i].T) * slope
                for k, grad in zip((i, i + 1), grads):
                    first[k] = 0.9 * first[k] + 0.1 * grad
                    second[k] = 0.999 * second[k] + 0.001 * grad * grad
                    weights[k] -= 1e-3 * (first[k] / (1 - 0.9**step)) / (np.sqrt(second[k] / (1 - 0.999**step)) + 1e-8)
        if epoch in wanted:
            activations = forward(weights, x, relu)
            plane.append([information(activations[layer], y, relu) for layer in range(1, HIDDEN + 1)])
    accuracy = float(np.mean(forward(weights, x[test], relu)[-1].argmax(axis=1) == y[test]))
    return plane, accuracy


def log_epochs_for(epochs, points):
    return sorted({int(round(e)) for e in np.geomspace(1, epochs, points)})


def write(result):
    """Writes the result envelope atomically: the client never reads half a file."""
    with open(RESULT_FILE + ".tmp", "w") as handle:
        json.dump(result, handle)
    os.replace(RESULT_FILE + ".tmp", RESULT_FILE)


def write_result(cfg, outcomes, log_epochs, controls=()):
    if not outcomes:
        result = {
            "experiment": "information_bottleneck", "version": VERSION, "status": "partial", "progress": 0.0,
            "seed": cfg["seed"], "params": cfg["params"], "budget_seconds": cfg["budget"],
            "elapsed_seconds": round(time.monotonic() - START, 3), "metrics": {"runs": 0}, "series": {},
            "summary": "no run reached two logged epochs before the deadline",
        }
        write(result)
        return
    # Runs cut short by the deadline share the log epochs they all reached (the controls too).
    reached = min(len(o[0]) for o in [*outcomes, *controls])
    planned = len(log_epochs)
    log_epochs = log_epochs[:reached]
    epochs_done = log_epochs[-1]
    plane = np.mean([o[0][:reached] for o in outcomes], axis=0)  # (log point, layer, [i_xt, i_ty])
    x, y = dataset()
    i_xy = information(x, y)[1]
    last = plane[:, HIDDEN - 1, :]
    series = {"epoch": log_epochs}
    for layer in range(HIDDEN):
        series[f"i_xt_{layer + 1}"] = plane[:, layer, 0].tolist()
        series[f"i_ty_{layer + 1}"] = plane[:, layer, 1].tolist()
    control = np.mean([o[0][:reached] for o in controls], axis=0)[:, HIDDEN - 1, :] if controls else None
    if control is not None:
        series["i_xt_last_relu"] = control[:, 0].tolist()
    metrics = {
        "i_ty_last": float(last[-1, 1]),
        "i_xt_last_peak": float(last[:, 0].max()),
        "i_xt_last_final": float(last[-1, 0]),
        "compression_last": float(last[:, 0].max() - last[-1, 0]),
        "i_xy": i_xy,
        "test_acc": float(np.mean([o[1] for o in outcomes])),
        "epochs": epochs_done,
        "runs": len(outcomes),
    }
    # The ReLU control's figures only where a control ran: absent otherwise, never a zero.
    if control is not None:
        metrics = {
            "compression_minus_control": metrics["compression_last"] - float(control[:, 0].max() - control[-1, 0]),
            **metrics,
            "compression_last_relu": float(control[:, 0].max() - control[-1, 0]),
            "i_ty_last_relu": float(control[-1, 1]),
            "test_acc_relu": float(np.mean([o[1] for o in controls])),
        }
    result = {
        "experiment": "information_bottleneck", "version": VERSION,
        "status": "ok" if len(outcomes) == len(controls) == cfg["runs"] and reached == planned else "partial",
        "progress": round((len(outcomes) + len(controls)) / (2 * cfg["runs"]) * reached / planned, 4),
        "seed": cfg["seed"], "params": cfg["params"], "budget_seconds": cfg["budget"],
        "elapsed_seconds": round(time.monotonic() - START, 3), "metrics": metrics, "series": series,
        "summary": (
            f"last hidden layer: I(T;Y) {metrics['i_ty_last']:.2f} of {i_xy:.2f} bits; I(X;T) peaked at "
            f"{metrics['i_xt_last_peak']:.1f} bits and fell {metrics['compression_last']:.1f} bits by epoch {epochs_done}; "
            f"test accuracy {metrics['test_acc']:.3f}, {len(outcomes)} runs; "
            + (f"the ReLU control fell {metrics['compression_last_relu']:.1f} bits" if control is not None else "no ReLU control finished")
        ),
    }
    write(result)


def main():
    cfg = settings()
    epochs = cfg["epochs"]
    log_epochs = log_epochs_for(epochs, cfg["log_points"])
    # The budget is a deadline inside every run too: a loaded host ends with a partial result, on time.
    deadline = START + 0.85 * cfg["budget"]
    # Every run twice: with tanh, and as the control with ReLU, which does not saturate.
    runs = [(cfg["seed"], run, epochs, log_epochs, deadline, relu) for relu in (False, True) for run in range(cfg["runs"])]
    with ProcessPoolExecutor(max_workers=workers(cfg)) as pool:
        done = list(pool.map(train_run, runs))
    usable = [o is not None and len(o[0]) >= 2 for o in done]
    outcomes = [o for o, ok, job in zip(done, usable, runs) if ok and not job[5]]
    controls = [o for o, ok, job in zip(done, usable, runs) if ok and job[5]]
    write_result(cfg, outcomes, log_epochs, controls)


if __name__ == "__main__":
    main()
