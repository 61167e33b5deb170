"""Edge of chaos: the largest Lyapunov exponent of random tanh networks against their gain.

Question: where does a random recurrent tanh network change from ordered to chaotic dynamics,
and does an input signal move that boundary?
Method: h(t+1) = W tanh(h(t)) + u x(t) with W_ij ~ N(0, g^2/N), so the spectral radius is
about g; the largest Lyapunov exponent comes from a tangent vector pushed through the Jacobian
W diag(1 - tanh^2 h) and renormalised every step, averaged after a burn-in; gains from 0.5 to 3
are swept without input (autonomous) and with Gaussian input (driven), over the workunit's
`networks` networks per gain, `burn_in` and `steps` steps each: the result is a function of seed
and params, more cores only make it faster, and a run cut short by its deadline is partial. The
crossing of zero is interpolated.
Shows: lambda is about ln g below g = 1, crosses zero near g = 1 (finite networks stay near zero
just above it), is clearly positive beyond; input suppresses chaos and moves the crossing up.
Reproduces: Sompolinsky, Crisanti & Sommers (1988), "Chaos in Random Neural Networks", PRL 61;
Molgedey, Schuchhardt & Schuster (1992), PRL 69; Rajan, Abbott & Sompolinsky (2010), PRE 82.
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
GAINS = [0.5, 0.7, 0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.2, 1.3, 1.4, 1.5, 1.75, 2.0, 2.5, 3.0]


def settings():
    params = json.loads(os.environ.get("AXIOM_PARAMS") or "{}")
    return {
        "budget": float(os.environ.get("AXIOM_RUN_DURATION", "60")),
        "seed": int(os.environ.get("AXIOM_SEED", "0")),
        "cpus": max(1, int(os.environ.get("AXIOM_CPUS") or os.cpu_count() or 1)),
        "params": params,
        "neurons": int(params.get("neurons", 500)),
        "steps": int(params.get("steps", 3000)),
        "burn_in": int(params.get("burn_in", 500)),
        "input_scale": float(params.get("input_scale", 1.0)),
        "networks": int(params.get("networks", 2)),
    }


def workers(cfg):
    """Worker processes: one per core, at most 61 on Windows (ProcessPoolExecutor refuses more there)."""
    return max(1, min(cfg["cpus"], 61)) if os.name == "nt" else cfg["cpus"]


def lyapunov(job):
    """Largest Lyapunov exponent of one network at one gain, with or without input; None when the
    deadline comes first."""
    seed, network, gain, driven, cfg, steps, stop_at = job
    n = cfg["neurons"]
    rng = np.random.default_rng([seed, network, int(gain * 1000), int(driven)])
    weights = rng.standard_normal((n, n)) * gain / np.sqrt(n)
    drive = rng.standard_normal(n)
    state = rng.standard_normal(n)
    tangent = rng.standard_normal(n)
    tangent /= np.linalg.norm(tangent)
    columns = np.empty((n, 2))
    total = 0.0
    for step in range(cfg["burn_in"] + steps):
        if step % 100 == 0 and time.time() > stop_at:
            return gain, driven, None
        activity = np.tanh(state)
        columns[:, 0] = activity
        columns[:, 1] = (1.0 - activity**2) * tangent
        product = weights @ columns  # state and tangent in one matrix product
        state = product[:, 0] + (cfg["input_scale"] * drive * rng.standard_normal() if driven else 0.0)
        norm = max(float(np.linalg.norm(product[:, 1])), 1e-300)
        tangent = product[:, 1] / norm
        if step >= cfg["burn_in"]:
            total += np.log(norm)
    return gain, driven, total / steps


def crossing(gains, exponents):
    """Gain where the exponent first turns positive, interpolated between neighbouring gains."""
    for (g0, l0), (g1, l1) in zip(zip(gains, exponents), zip(gains[1:], exponents[1:])):
        if l0 < 0 <= l1:
            return g0 + (g1 - g0) * (-l0) / (l1 - l0)
    return gains[-1] if exponents and exponents[-1] < 0 else gains[0]


def write_result(cfg, values, done, planned, steps):
    def mean_curve(driven):
        return [float(np.mean(values[(g, driven)])) for g in GAINS if values.get((g, driven))]
    gains = [g for g in GAINS if values.get((g, False))]
    driven_gains = [g for g in GAINS if values.get((g, True))]
    autonomous, driven = mean_curve(False), mean_curve(True)
    at = dict(zip(gains, autonomous))
    metrics = {
        "critical_gain": crossing(gains, autonomous) if gains else 0.0,
        "critical_gain_driven": crossing(driven_gains, driven) if driven_gains else 0.0,
        "driven_shift": 0.0,
        "lyapunov_g05": at.get(0.5, 0.0),
        "lyapunov_g2": at.get(2.0, 0.0),
        "lyapunov_g3": at.get(3.0, 0.0),
        "networks": cfg["networks"],
        "steps": steps,
    }
    metrics["driven_shift"] = metrics["critical_gain_driven"] - metrics["critical_gain"]
    result = {
        "experiment": "edge_of_chaos", "version": VERSION, "status": "ok" if done == planned else "partial",
        "progress": round(done / planned, 4),
        "seed": cfg["seed"], "params": cfg["params"], "budget_seconds": cfg["budget"],
        "elapsed_seconds": round(time.monotonic() - START, 3), "metrics": metrics,
        "series": {"gain": gains, "lyapunov": autonomous, "gain_driven": driven_gains, "lyapunov_driven": driven},
        "summary": (
            f"lambda crosses zero at gain {metrics['critical_gain']:.2f} (driven: {metrics['critical_gain_driven']:.2f}); "
            f"lambda(0.5) = {metrics['lyapunov_g05']:.3f}, lambda(2) = {metrics['lyapunov_g2']:.3f}; {cfg['networks']} networks per gain"
        ),
    }
    with open(RESULT_FILE + ".tmp", "w") as handle:
        json.dump(result, handle)
    os.replace(RESULT_FILE + ".tmp", RESULT_FILE)


def main():
    cfg = settings()
    steps = cfg["steps"]
    stop_at = time.time() + 0.85 * cfg["budget"] - (time.monotonic() - START)
    # Every gain, autonomous and driven, for each of the workunit's networks, in a fixed order.
    jobs = [(cfg["seed"], n, g, d, cfg, steps, stop_at) for n in range(cfg["networks"]) for d in (False, True) for g in GAINS]
    values, done = {}, 0
    with ProcessPoolExecutor(max_workers=workers(cfg)) as pool:
        for gain, driven, exponent in pool.map(lyapunov, jobs):
            if exponent is not None:
                values.setdefault((gain, driven), []).append(exponent)
                done += 1
    write_result(cfg, values, done, len(jobs), steps)


if __name__ == "__main__":
    main()
