"""Lottery tickets: iterative magnitude pruning with rewinding against random re-initialisation.

Question: does a sparse subnetwork found by iterative magnitude pruning, reset to its early
weights, train to the accuracy of the dense network, where the same sparse structure with a
fresh random initialisation does not?
Method: an MLP (50-100-50-10) is trained with Adam on a 10-class mixture of Gaussian clusters
(three clusters per class); after each round the smallest-magnitude 20 % of the remaining
weights of each hidden layer (10 % of the output layer) are pruned and the survivors are
rewound to their values early in training (step k, 2 % of a round). Steps per round are sized
from the budget. At every sparsity the
same mask is also trained from a fresh initialisation. Rounds continue while the budget allows;
the random re-initialisation runs in parallel with the pruning chain.
Shows: the ticket stays near dense accuracy down to a small fraction of the weights, while the
re-initialised sparse network falls behind as sparsity grows.
Reproduces: Frankle & Carbin (2019), "The Lottery Ticket Hypothesis", ICLR; Frankle et al.
(2020), "Linear Mode Connectivity and the Lottery Ticket Hypothesis", ICML.
"""

import os

# One BLAS thread per worker process: the parallelism comes from the processes.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import json
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

VERSION = "1.0.0"
RESULT_FILE = "experiment_result.json"
START = time.monotonic()
SIZES = [50, 100, 50, 10]
PRUNE_RATES = [0.2, 0.2, 0.1]


def settings():
    params = json.loads(os.environ.get("AXIOM_PARAMS") or "{}")
    return {
        "budget": float(os.environ.get("AXIOM_RUN_DURATION", "60")),
        "seed": int(os.environ.get("AXIOM_SEED", "0")),
        "cpus": max(1, int(os.environ.get("AXIOM_CPUS") or os.cpu_count() or 1)),
        "params": params,
        "max_steps": int(params.get("max_steps_per_round", 3000)),
        "max_rounds": int(params.get("max_rounds", 16)),
    }


def make_data(seed, n_train=5000, n_test=2000, dim=50, classes=10, clusters=3):
    rng = np.random.default_rng([seed, 0])
    centers = rng.standard_normal((classes * clusters, dim)) * 0.55
    def sample(n):
        which = rng.integers(0, classes * clusters, n)
        return centers[which] + rng.standard_normal((n, dim)), which % classes
    return sample(n_train), sample(n_test)


def init_weights(rng):
    return [rng.standard_normal((a, b)) * np.sqrt(2.0 / a) for a, b in zip(SIZES[:-1], SIZES[1:])]


def forward(weights, masks, x):
    activations = [x]
    for i, (w, m) in enumerate(zip(weights, masks)):
        z = activations[-1] @ (w * m)
        activations.append(np.maximum(z, 0.0) if i + 1 < len(weights) else z)
    return activations


def train(weights, masks, data, steps, seed, rewind_step=None):
    """Adam on the masked weights (pruned weights and their moments stay zero); returns test accuracy
    and, when asked, the weights at `rewind_step`."""
    (x, y), (x_test, y_test) = data
    rng = np.random.default_rng(seed)
    weights = [w * m for w, m in zip(weights, masks)]
    first = [np.zeros_like(w) for w in weights]
    second = [np.zeros_like(w) for w in weights]
    rewound = None
    for step in range(1, steps + 1):
        if step - 1 == rewind_step:
            rewound = [w.copy() for w in weights]
        batch = rng.integers(0, len(x), 128)
        activations = forward(weights, masks, x[batch])
        logits = activations[-1] - activations[-1].max(axis=1, keepdims=True)
        delta = np.exp(logits)
        delta /= delta.sum(axis=1, keepdims=True)
        delta[np.arange(len(batch)), y[batch]] -= 1.0
        delta /= len(batch)
        for i in range(len(weights) - 1, -1, -1):
            grad = (activations[i].T @ delta) * masks[i]
            if i:
                delta = (delta @ (weights[i] * masks[i]).T) * (activations[i] > 0)
            first[i] = 0.9 * first[i] + 0.1 * grad
            second[i] = 0.999 * second[i] + 0.001 * grad * grad
            weights[i] -= 1e-3 * (first[i] / (1 - 0.9**step)) / (np.sqrt(second[i] / (1 - 0.999**step)) + 1e-8)
            weights[i] *= masks[i]
    accuracy = float(np.mean(forward(weights, masks, x_test)[-1].argmax(axis=1) == y_test))
    return accuracy, weights, rewound


def prune(weights, masks):
    """Removes the smallest-magnitude remaining weights of each layer at its rate."""
    new_masks = []
    for w, m, rate in zip(weights, masks, PRUNE_RATES):
        alive = np.abs(w[m > 0])
        cutoff = np.quantile(alive, rate) if alive.size else 0.0
        new_masks.append(m * (np.abs(w) > cutoff))
    return new_masks


def remaining(masks):
    return float(sum(m.sum() for m in masks) / sum(m.size for m in masks))


def random_reinit(job):
    """The baseline: the ticket's mask trained from a fresh initialisation."""
    seed, level, masks, steps = job
    data = make_data(seed)
    fresh = init_weights(np.random.default_rng([seed, 2, level]))
    return level, train(fresh, masks, data, steps, seed=[seed, 3, level])[0]


def write_result(cfg, levels, steps):
    levels = sorted(levels, key=lambda row: -row[0])
    dense = levels[0][1] if levels else 0.0
    fractions = [row[0] for row in levels]
    tickets = [row[1] for row in levels]
    randoms = [row[2] for row in levels]
    matched = [f for f, t in zip(fractions, tickets) if t >= dense - 0.01]
    metrics = {
        "dense_acc": dense,
        "ticket_acc": tickets[-1] if tickets else 0.0,
        "random_acc": randoms[-1] if randoms else 0.0,
        "ticket_minus_random": (tickets[-1] - randoms[-1]) if tickets else 0.0,
        "remaining_fraction": fractions[-1] if fractions else 1.0,
        "smallest_matching_fraction": min(matched) if matched else 1.0,
        "rounds": max(0, len(levels) - 1),
        "steps_per_round": steps,
    }
    result = {
        "experiment": "lottery_ticket", "version": VERSION, "status": "ok" if metrics["rounds"] >= 8 else "partial",
        "progress": round(min(1.0, metrics["rounds"] / 8), 4),
        "seed": cfg["seed"], "params": cfg["params"], "budget_seconds": cfg["budget"],
        "elapsed_seconds": round(time.monotonic() - START, 3), "metrics": metrics,
        "series": {"remaining_fraction": fractions, "ticket_acc": tickets, "random_acc": randoms},
        "summary": (
            f"dense {dense:.3f}; at {metrics['remaining_fraction']:.1%} of weights the ticket reaches "
            f"{metrics['ticket_acc']:.3f} vs {metrics['random_acc']:.3f} re-initialised; ticket within 1 point of dense "
            f"down to {metrics['smallest_matching_fraction']:.1%}"
            if levels else "no round finished before the deadline"
        ),
    }
    with open(RESULT_FILE + ".tmp", "w") as handle:
        json.dump(result, handle)
    os.replace(RESULT_FILE + ".tmp", RESULT_FILE)


def steps_for_budget(cfg, data, masks, initial):
    """Steps per round so that every round fits in about two thirds of the budget."""
    probe = 100
    started = time.monotonic()
    train(initial, masks, data, probe, seed=0)
    per_step = (time.monotonic() - started) / probe
    per_round = (0.65 * cfg["budget"] - (time.monotonic() - START)) / (cfg["max_rounds"] + 1)
    return int(max(150, min(cfg["max_steps"], per_round / per_step)))


def main():
    cfg = settings()
    seed = cfg["seed"]
    data = make_data(seed)
    masks = [np.ones((a, b)) for a, b in zip(SIZES[:-1], SIZES[1:])]
    initial = init_weights(np.random.default_rng([seed, 1]))
    steps = steps_for_budget(cfg, data, masks, initial)
    rewind_step = max(1, steps // 50)
    # Keep a margin: a round and its baseline must fit before the deadline.
    deadline = START + 0.7 * cfg["budget"]
    ticket_accs, baselines = {}, {}
    with ProcessPoolExecutor(max_workers=max(1, cfg["cpus"] - 1)) as pool:
        accuracy, trained, rewound = train(initial, masks, data, steps, seed=[seed, 4, 0], rewind_step=rewind_step)
        ticket_accs[0] = (remaining(masks), accuracy)
        baselines[0] = pool.submit(random_reinit, (seed, 0, masks, steps))
        round_seconds = time.monotonic() - START
        for level in range(1, cfg["max_rounds"] + 1):
            # The next round, and the baselines still queued behind the pruning chain, must end in time.
            queued = sum(not future.done() for future in baselines.values())
            if time.monotonic() + (queued + 1.3) * round_seconds > deadline:
                break
            started = time.monotonic()
            masks = prune(trained, masks)
            accuracy, trained, _ = train(rewound, masks, data, steps, seed=[seed, 4, level])
            ticket_accs[level] = (remaining(masks), accuracy)
            baselines[level] = pool.submit(random_reinit, (seed, level, masks, steps))
            round_seconds = time.monotonic() - started
        levels = [(fraction, acc, baselines[level].result()[1]) for level, (fraction, acc) in ticket_accs.items()]
    write_result(cfg, levels, steps)


if __name__ == "__main__":
    main()
