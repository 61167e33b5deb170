"""Reservoir computing: an echo state network forecasting the chaotic Lorenz system.

Question: how many Lyapunov times ahead can a random recurrent reservoir with a trained linear
read-out forecast the Lorenz-63 system when it runs on its own predictions, and how does that
depend on reservoir size and spectral radius?
Method: the Lorenz system (10, 28, 8/3) is integrated with RK4 at dt = 0.02 and standardised;
sparse random reservoirs (6 inputs per node, input weights within +-0.1) of 100 to 500 nodes
with spectral radius 0.4 to 1.2 are driven by `train_steps` (20,000) training steps; a ridge read-out (1e-6) on
the states, every other node squared to break the x, y sign symmetry, predicts the next step.
From `starts` validation starts, each after a 1,000-step warm-up, the network runs in closed
loop; the valid time is when the normalised error first exceeds 0.4, in Lyapunov times
(lambda_max = 0.906). The best configuration is chosen on the validation starts and scored on as
many other test starts later on the trajectory, so the headline is not the best of the numbers
it is reported on. The grid is fixed: the result is a function of seed and params, more cores
only make it faster, and a run cut short by its deadline is partial.
Shows: the best reservoirs forecast several Lyapunov times ahead (about 6 at 500 nodes), larger
reservoirs forecast longer (500 nodes against 100, each at its best radius on validation), and too
large a spectral radius (1.2) ruins the forecast of even the largest reservoir.
Reproduces: Jaeger & Haas (2004), Science 304:78-80; Pathak et al. (2017), Chaos 27:121102;
Pathak et al. (2018), PRL 120:024102.
"""

import os

# One BLAS thread per worker process: the parallelism comes from the processes.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import json
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

VERSION = "3.0.0"
RESULT_FILE = "experiment_result.json"
START = time.monotonic()
DT, LYAPUNOV = 0.02, 0.906
SIZES = [500, 300, 200, 100]
RADII = [0.4, 0.6, 0.8, 1.0, 1.2]
WARMUP, HORIZON, THRESHOLD = 1000, 1200, 0.4


def settings():
    params = json.loads(os.environ.get("AXIOM_PARAMS") or "{}")
    return {
        "budget": float(os.environ.get("AXIOM_RUN_DURATION", "60")),
        "seed": int(os.environ.get("AXIOM_SEED", "0")),
        "cpus": max(1, int(os.environ.get("AXIOM_CPUS") or os.cpu_count() or 1)),
        "params": params,
        "ridge": float(params.get("ridge", 1e-6)),
        "input_scale": float(params.get("input_scale", 0.1)),
        "starts": int(params.get("starts", 10)),
        "train_steps": int(params.get("train_steps", 20000)),
    }


def workers(cfg):
    """Worker processes: one per core, at most 61 on Windows (ProcessPoolExecutor refuses more there)."""
    return max(1, min(cfg["cpus"], 61)) if os.name == "nt" else cfg["cpus"]


def lorenz_series(seed, steps):
    def velocity(s):
        x, y, z = s
        return np.array([10.0 * (y - x), x * (28.0 - z) - y, x * y - 8.0 / 3.0 * z])
    state = np.array([1.0, 1.0, 1.0]) + np.random.default_rng([seed, 0]).standard_normal(3)
    out = np.empty((steps, 3))
    for i in range(steps + 2000):
        k1 = velocity(state)
        k2 = velocity(state + 0.5 * DT * k1)
        k3 = velocity(state + 0.5 * DT * k2)
        k4 = velocity(state + DT * k3)
        state = state + DT / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        if i >= 2000:  # leave the transient out
            out[i - 2000] = state
    return (out - out.mean(axis=0)) / out.std(axis=0)


def reservoir(seed, size, radius, input_scale):
    rng = np.random.default_rng([seed, 1, size])
    sources = np.array([rng.choice(size, 6, replace=False) for _ in range(size)])
    weights = rng.uniform(-1.0, 1.0, (size, 6))
    dense = np.zeros((size, size))
    np.add.at(dense, (np.repeat(np.arange(size), 6), sources.ravel()), weights.ravel())
    weights *= radius / np.max(np.abs(np.linalg.eigvals(dense)))
    return sources, weights, rng.uniform(-input_scale, input_scale, (size, 3))


def features(states):
    out = states.copy()
    out[..., 1::2] **= 2  # every other node squared breaks the x, y sign symmetry of Lorenz
    return out


def evaluate(job):
    """Median valid time (in Lyapunov times) over the validation starts and over the test starts, and
    the one-step NRMSE, of one reservoir; None when the deadline comes first."""
    seed, size, radius, cfg, stop_at = job
    if time.time() > stop_at:
        return size, radius, None
    data = DATA if DATA is not None else load(seed, cfg)
    sources, weights, inputs = reservoir(seed, size, radius, cfg["input_scale"])
    state = np.zeros(size)
    train_steps = cfg["train_steps"]
    states = np.empty((train_steps, size))
    for t in range(train_steps):
        if t % 500 == 0 and time.time() > stop_at:
            return size, radius, None
        state = np.tanh((weights * state[sources]).sum(axis=1) + inputs @ data[t])
        states[t] = state
    design = features(states[100:])
    targets = data[101:train_steps + 1]
    # The normal equations in blocks of rows (the most expensive step of a large reservoir), so that
    # the deadline is checked between them; the block order is fixed, so the sums are too.
    gram, cross = np.zeros((size, size)), np.zeros((size, targets.shape[1]))
    for begin in range(0, len(design), 1000):
        if time.time() > stop_at:
            return size, radius, None
        block = design[begin:begin + 1000]
        gram += block.T @ block
        cross += block.T @ targets[begin:begin + 1000]
    readout = np.linalg.solve(gram + cfg["ridge"] * np.eye(size), cross)
    valid_times, one_step_errors, example = [], [], None
    for start in range(2 * cfg["starts"]):
        if time.time() > stop_at:
            return size, radius, None
        begin = train_steps + 200 + start * (WARMUP + HORIZON)
        state = np.zeros(size)
        for t in range(begin, begin + WARMUP):
            state = np.tanh((weights * state[sources]).sum(axis=1) + inputs @ data[t])
            if t >= begin + WARMUP - 200:
                one_step_errors.append(np.mean((features(state) @ readout - data[t + 1]) ** 2))
        prediction = features(state) @ readout
        predicted = np.empty((HORIZON, 3))
        for k in range(HORIZON):
            predicted[k] = prediction
            state = np.tanh((weights * state[sources]).sum(axis=1) + inputs @ prediction)
            prediction = features(state) @ readout
        truth = data[begin + WARMUP:begin + WARMUP + HORIZON]
        error = np.sqrt(np.mean((predicted - truth) ** 2, axis=1))
        beyond = np.nonzero(error > THRESHOLD)[0]
        steps_valid = beyond[0] if beyond.size else HORIZON
        valid_times.append(steps_valid * DT * LYAPUNOV)
        if start == cfg["starts"]:  # the first test start is the one shown
            example = (truth[:, 0].tolist(), predicted[:, 0].tolist())
    validation, test = valid_times[: cfg["starts"]], valid_times[cfg["starts"]:]
    nrmse = float(np.sqrt(np.mean(one_step_errors)))
    return size, radius, (float(np.median(validation)), float(np.median(test)), nrmse, example)


DATA = None


def load(seed, cfg):
    global DATA
    DATA = lorenz_series(seed, cfg["train_steps"] + 200 + 2 * cfg["starts"] * (WARMUP + HORIZON) + 1)
    return DATA


def write_result(cfg, outcomes):
    grid = [(s, r, o) for (s, r), o in sorted(outcomes.items()) if o is not None]
    # Chosen on the validation starts; the first of equal ones in grid order.
    best = max(grid, key=lambda row: row[2][0]) if grid else None
    metrics, series = {"starts": cfg["starts"]}, {"t": [], "true_x": [], "pred_x": [], "grid_size": [], "grid_radius": [], "grid_valid_time": []}
    for size, radius, (vpt, _, _, _) in grid:
        series["grid_size"].append(size)
        series["grid_radius"].append(radius)
        series["grid_valid_time"].append(vpt)
    if best:
        size, radius, (validation_vpt, vpt, nrmse, (truth, predicted)) = best
        shown = min(len(truth), int((vpt + 3) / (DT * LYAPUNOV)))
        series["t"] = [k * DT * LYAPUNOV for k in range(shown)]
        series["true_x"], series["pred_x"] = truth[:shown], predicted[:shown]
        metrics = {"valid_time_lyapunov": vpt, "valid_time_validation": validation_vpt, "nrmse_one_step": nrmse,
                   "best_size": size, "best_radius": radius, "configurations": len(grid), "starts": cfg["starts"]}
        # The hypothesis's two dependences, each from the test starts of configurations chosen on the
        # validation starts, and only where the grid reached them (absent otherwise, never a zero):
        # the smallest reservoir at its best radius, and the largest at the largest radius.
        by_size = {s: max((o for s2, _, o in grid if s2 == s), key=lambda o: o[0])[1] for s in {row[0] for row in grid}}
        if min(SIZES) in by_size and max(SIZES) in by_size:
            metrics["valid_time_smallest"] = by_size[min(SIZES)]
            metrics["size_gain"] = by_size[max(SIZES)] - by_size[min(SIZES)]
        at = {(s, r): o for s, r, o in grid}
        if (max(SIZES), max(RADII)) in at and max(SIZES) in by_size:
            metrics["valid_time_largest_radius"] = at[(max(SIZES), max(RADII))][1]
            metrics["largest_radius_share"] = at[(max(SIZES), max(RADII))][1] / max(by_size[max(SIZES)], 1e-9)
    result = {
        "experiment": "reservoir_computing", "version": VERSION,
        "status": "ok" if len(grid) == len(SIZES) * len(RADII) else "partial",
        "progress": round(len(grid) / (len(SIZES) * len(RADII)), 4),
        "seed": cfg["seed"], "params": cfg["params"], "budget_seconds": cfg["budget"],
        "elapsed_seconds": round(time.monotonic() - START, 3), "metrics": metrics, "series": series,
        "summary": (
            f"best reservoir on validation ({best[0]} nodes, radius {best[1]}) forecasts Lorenz for {best[2][1]:.1f} "
            f"Lyapunov times (median of {cfg['starts']} test starts; {best[2][0]:.1f} on validation), one-step NRMSE "
            f"{best[2][2]:.2g}; {len(grid)} configurations"
            if best else "no reservoir finished before the deadline"
        ),
    }
    with open(RESULT_FILE + ".tmp", "w") as handle:
        json.dump(result, handle)
    os.replace(RESULT_FILE + ".tmp", RESULT_FILE)


def main():
    cfg = settings()
    stop_at = time.time() + 0.85 * cfg["budget"] - (time.monotonic() - START)
    jobs = [(cfg["seed"], s, r, cfg, stop_at) for s in SIZES for r in RADII]
    with ProcessPoolExecutor(max_workers=workers(cfg), initializer=load, initargs=(cfg["seed"], cfg)) as pool:
        outcomes = {(size, radius): outcome for size, radius, outcome in pool.map(evaluate, jobs)}
    write_result(cfg, outcomes)


if __name__ == "__main__":
    main()
