"""Edge of chaos: where random tanh networks turn chaotic, and where they compute best.

Question: where does a random recurrent tanh network change from ordered to chaotic dynamics, does
an input signal move that boundary, and does the driven network compute best near it?
Method: h(t+1) = W tanh(h(t)) + u x(t) with W_ij ~ N(0, g^2/N), so the spectral radius is about g;
the largest Lyapunov exponent comes from a tangent vector pushed through the Jacobian
W diag(1 - tanh^2 h) and renormalised every step, averaged after a burn-in; gains from 0.5 to 3 are
swept without input (autonomous) and with a random binary input x(t) = +-1 (driven). From the driven
run's activity, ridge read-outs (trained on the first half, scored on the second) recall the input
k steps back (k = 0..39: Jaeger's linear memory capacity, the sum of squared correlations) and the
parity of three consecutive inputs k steps back (k = 0..9, a nonlinear task, as Bertschinger &
Natschlaeger used). The science is fixed by the params (neurons, steps, input scale, and `extra_gains`:
gains added to the sweep, e.g. a follow-up resolving the transition more finely near a measured
critical gain); a host's speed changes only the workunit's `networks` averaged per gain. The
crossings of zero are interpolated.
Shows: lambda is about ln g below g = 1, crosses zero near g = 1 (finite networks stay near zero
just above it) and is clearly positive beyond; input suppresses chaos and moves the crossing up;
the memory capacity peaks on the ordered side near the driven crossing and collapses in chaos (the
parity capacity peaks deeper in the ordered regime, and is reported).
Reproduces: Sompolinsky, Crisanti & Sommers (1988), PRL 61; Molgedey, Schuchhardt & Schuster (1992),
PRL 69; Bertschinger & Natschlaeger (2004), Neural Computation 16; Boedecker et al. (2012), Theory in
Biosciences 131.
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
GAINS = [0.5, 0.7, 0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.2, 1.3, 1.4, 1.5, 1.75, 2.0, 2.5, 3.0]


def settings():
    params = json.loads(os.environ.get("AXIOM_PARAMS") or "{}")
    return {
        "budget": float(os.environ.get("AXIOM_RUN_DURATION", "60")),
        "seed": int(os.environ.get("AXIOM_SEED", "0")),
        "cpus": max(1, int(os.environ.get("AXIOM_CPUS") or os.cpu_count() or 1)),
        "params": params,
        "neurons": int(params.get("neurons", 300)),
        "steps": int(params.get("steps", 2000)),
        "burn_in": int(params.get("burn_in", 500)),
        "input_scale": float(params.get("input_scale", 0.3)),
        "networks": int(params.get("networks", 1)),
        "gains": gains_with(params.get("extra_gains", [])),
    }


def gains_with(extra):
    """The standard sweep with the extra gains (0.05 to 10, at most 64 of them) added, in order."""
    added = [round(float(g), 4) for g in extra][:64]
    return sorted(set(GAINS) | {g for g in added if 0.05 <= g <= 10})


def workers(cfg):
    """Worker processes: one per core, at most 61 on Windows (ProcessPoolExecutor refuses more there)."""
    return max(1, min(cfg["cpus"], 61)) if os.name == "nt" else cfg["cpus"]


MEMORY_DELAYS, PARITY_DELAYS = 40, 10


def lyapunov(job):
    """Largest Lyapunov exponents of one network at every gain (its coupling matrix scaled by each gain,
    all gains stepped together), with or without input, and for the driven run the memory and parity
    capacities at each gain; None when the deadline comes first."""
    seed, network, driven, cfg, steps, stop_at = job
    n, burn_in, gains = cfg["neurons"], cfg["burn_in"], np.array(cfg["gains"])
    rng = np.random.default_rng([seed, network, int(driven)])
    base = rng.standard_normal((n, n)) / np.sqrt(n)
    drive = rng.standard_normal(n)
    inputs = rng.choice([-1.0, 1.0], burn_in + steps)
    state = rng.standard_normal((n, len(gains)))
    tangent = rng.standard_normal((n, len(gains)))
    tangent /= np.linalg.norm(tangent, axis=0)
    columns = np.empty((n, 2 * len(gains)))
    activity_log = np.empty((len(gains), steps, n), np.float32) if driven else None
    total = np.zeros(len(gains))
    for step in range(burn_in + steps):
        if step % 20 == 0 and time.time() > stop_at:
            return driven, None
        activity = np.tanh(state)
        if driven and step >= burn_in:
            activity_log[:, step - burn_in] = activity.T  # holds the inputs up to step - 1
        columns[:, 0::2] = activity * gains
        columns[:, 1::2] = (1.0 - activity**2) * tangent * gains
        product = base @ columns  # every gain's state and tangent in one matrix product
        state = product[:, 0::2] + (cfg["input_scale"] * inputs[step] * drive[:, None] if driven else 0.0)
        norms = np.maximum(np.linalg.norm(product[:, 1::2], axis=0), 1e-300)
        tangent = product[:, 1::2] / norms
        if step >= burn_in:
            total += np.log(norms)
    exponents = total / steps
    if not driven:
        return driven, [(g, float(e), None, None) for g, e in zip(cfg["gains"], exponents)]
    recent = inputs[burn_in - 1:burn_in - 1 + steps]
    rows = []
    for i, (g, e) in enumerate(zip(cfg["gains"], exponents)):
        if time.time() > stop_at:
            return driven, None
        rows.append((g, float(e), *capacities(activity_log[i].astype(np.float64), recent)))
    return driven, rows


def capacities(activity, inputs):
    """Linear memory capacity (input k steps back, k < MEMORY_DELAYS) and 3-bit parity capacity (k <
    PARITY_DELAYS): sums of squared correlations of ridge read-outs on the second half of the run."""
    steps, n = activity.shape
    features = np.hstack([activity, np.ones((steps, 1))])
    skip, half = MEMORY_DELAYS + 2, steps // 2
    train, test = features[skip:half], features[half:]
    gram = train.T @ train + 1e-4 * np.eye(n + 1)

    # Every target's ridge read-out from one solve: the delayed inputs, then the 3-bit parities.
    targets = np.stack([np.roll(inputs, k) for k in range(MEMORY_DELAYS)]
                       + [np.roll(inputs, k) * np.roll(inputs, k + 1) * np.roll(inputs, k + 2)
                          for k in range(PARITY_DELAYS)], axis=1)
    weights = np.linalg.solve(gram, train.T @ targets[skip:half])
    predicted = test @ weights

    def score(column):
        correlation = np.corrcoef(predicted[:, column], targets[half:, column])[0, 1]
        return float(correlation**2) if np.isfinite(correlation) else 0.0

    memory = sum(score(k) for k in range(MEMORY_DELAYS))
    parity = sum(score(MEMORY_DELAYS + k) for k in range(PARITY_DELAYS))
    return memory, parity


def crossing(gains, exponents):
    """Gain where the exponent first turns positive, interpolated between neighbouring gains."""
    for (g0, l0), (g1, l1) in zip(zip(gains, exponents), zip(gains[1:], exponents[1:])):
        if l0 < 0 <= l1:
            return g0 + (g1 - g0) * (-l0) / (l1 - l0)
    return gains[-1] if exponents and exponents[-1] < 0 else gains[0]


def write_result(cfg, values, done, planned, steps):
    """Means over the networks that finished each gain; a figure the run did not reach is absent."""
    def mean_curve(driven, part):
        return [float(np.mean([v[part] for v in values[(g, driven)]])) for g in cfg["gains"] if values.get((g, driven))]
    gains = [g for g in cfg["gains"] if values.get((g, False))]
    driven_gains = [g for g in cfg["gains"] if values.get((g, True))]
    autonomous, driven = mean_curve(False, 0), mean_curve(True, 0)
    memory, parity = mean_curve(True, 1), mean_curve(True, 2)
    at = dict(zip(gains, autonomous))
    metrics = {}
    complete = done == planned
    if complete:
        peak = int(np.argmax(memory))
        metrics = {
            "critical_gain": crossing(gains, autonomous),
            "critical_gain_driven": crossing(driven_gains, driven),
            "memory_peak_gain": driven_gains[peak],
            "memory_peak_lyapunov": driven[peak],
            "memory_peak": memory[peak],
            "memory_order_share": memory[driven_gains.index(0.5)] / memory[peak],
            "memory_chaos_share": memory[driven_gains.index(3.0)] / memory[peak],
            "parity_peak_gain": driven_gains[int(np.argmax(parity))],
            "parity_peak_lyapunov": driven[int(np.argmax(parity))],
            "lyapunov_g05": at[0.5],
            "lyapunov_g2": at[2.0],
            "lyapunov_g3": at[3.0],
        }
        metrics["driven_shift"] = metrics["critical_gain_driven"] - metrics["critical_gain"]
    metrics.update({"networks": cfg["networks"] if complete else min(len(v) for v in values.values()) if values else 0,
                    "steps": steps})
    result = {
        "experiment": "edge_of_chaos", "version": VERSION, "status": "ok" if complete else "partial",
        "progress": round(done / planned, 4),
        "seed": cfg["seed"], "params": cfg["params"], "budget_seconds": cfg["budget"],
        "elapsed_seconds": round(time.monotonic() - START, 3), "metrics": metrics,
        "series": {"gain": gains, "lyapunov": autonomous, "gain_driven": driven_gains, "lyapunov_driven": driven,
                   "memory_capacity": memory, "parity_capacity": parity},
        "summary": (
            f"lambda crosses zero at gain {metrics['critical_gain']:.2f} (driven: {metrics['critical_gain_driven']:.2f}); "
            f"memory capacity peaks at gain {metrics['memory_peak_gain']} (driven lambda {metrics['memory_peak_lyapunov']:.2f}), "
            f"{metrics['memory_chaos_share']:.2f} of it left at gain 3; {cfg['networks']} networks per gain"
            if complete else f"{done} of {planned} sweeps (a network, autonomous or driven) computed before the deadline"
        ),
    }
    with open(RESULT_FILE + ".tmp", "w") as handle:
        json.dump(result, handle)
    os.replace(RESULT_FILE + ".tmp", RESULT_FILE)


def main():
    cfg = settings()
    steps = cfg["steps"]
    stop_at = time.time() + 0.85 * cfg["budget"] - (time.monotonic() - START)
    # Each of the workunit's networks, autonomous and driven, in a fixed order.
    jobs = [(cfg["seed"], n, d, cfg, steps, stop_at) for n in range(cfg["networks"]) for d in (False, True)]
    values, done = {}, 0
    with ProcessPoolExecutor(max_workers=min(workers(cfg), len(jobs))) as pool:
        for driven, rows in pool.map(lyapunov, jobs):
            if rows is not None:
                for gain, exponent, memory, parity in rows:
                    values.setdefault((gain, driven), []).append((exponent, memory, parity))
                done += 1
    write_result(cfg, values, done, len(jobs), steps)


if __name__ == "__main__":
    main()
