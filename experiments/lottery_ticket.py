"""Lottery tickets: iterative magnitude pruning with rewinding against random re-initialisation.

Question: does a sparse subnetwork found by iterative magnitude pruning, reset to its early
weights, train to the accuracy of the dense network, where the same sparse structure with a
fresh random initialisation does not?
Method: an MLP (50-100-50-10) is trained with Adam on a 10-class mixture of Gaussian clusters
(three clusters per class); after each round the smallest-magnitude 20 % of the remaining
weights of each hidden layer (10 % of the output layer) are pruned and the survivors are
rewound to their values early in training (step k, 2 % of a round). At every sparsity the same
mask is also trained from a fresh initialisation, and a random mask of the same sparsity from the
rewound weights (the two baselines of Frankle & Carbin). The workunit's `seeds` chains of `rounds`
rounds of `steps_per_round` steps run in parallel and are averaged: the result is a function of
seed and params, and a run cut short by its deadline is partial.
Shows: the ticket stays near dense accuracy down to a small fraction of the weights, while both
baselines fall behind as sparsity grows.
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

VERSION = "3.0.0"
RESULT_FILE = "experiment_result.json"
START = time.monotonic()
SIZES = [50, 100, 50, 10]
BATCH = 64
PRUNE_RATES = [0.2, 0.2, 0.1]


def settings():
    params = json.loads(os.environ.get("AXIOM_PARAMS") or "{}")
    return {
        "budget": float(os.environ.get("AXIOM_RUN_DURATION", "60")),
        "seed": int(os.environ.get("AXIOM_SEED", "0")),
        "cpus": max(1, int(os.environ.get("AXIOM_CPUS") or os.cpu_count() or 1)),
        "params": params,
        "steps": int(params.get("steps_per_round", 300)),
        "rounds": int(params.get("rounds", 10)),
        "seeds": int(params.get("seeds", 1)),
    }


def workers(cfg):
    """Worker processes: one per core, at most 61 on Windows (ProcessPoolExecutor refuses more there)."""
    return max(1, min(cfg["cpus"], 61)) if os.name == "nt" else cfg["cpus"]


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
        batch = rng.integers(0, len(x), BATCH)
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


def random_mask_like(masks, rng):
    """A random mask with the same number of weights left in each layer: the structure-free baseline."""
    out = []
    for m in masks:
        flat = np.zeros(m.size)
        flat[rng.permutation(m.size)[: int(m.sum())]] = 1.0
        out.append(flat.reshape(m.shape))
    return out


def chain(job):
    """One pruning chain of `rounds` rounds from its own initialisation (the data is the seed's).

    At every level: the rewound ticket, the same mask from a fresh initialisation, and a random mask
    of the same sparsity from the rewound weights. Returns the levels reached and whether the
    deadline cut the chain short.
    """
    seed, replica, cfg, stop_at = job
    if time.time() > stop_at:
        return [], True
    data = make_data(seed)
    steps = cfg["steps"]
    masks = [np.ones((a, b)) for a, b in zip(SIZES[:-1], SIZES[1:])]
    initial = init_weights(np.random.default_rng([seed, 1, replica]))
    rewind_step = max(1, steps // 50)
    accuracy, trained, rewound = train(initial, masks, data, steps, seed=[seed, 4, replica, 0], rewind_step=rewind_step)
    levels = [(remaining(masks), accuracy, accuracy, accuracy)]
    for level in range(1, cfg["rounds"] + 1):
        if time.time() > stop_at:
            return levels, True
        masks = prune(trained, masks)
        accuracy, trained, _ = train(rewound, masks, data, steps, seed=[seed, 4, replica, level])
        # The baselines at every other level and at the last: enough to draw them, at two thirds of the cost.
        if level % 2 and level != cfg["rounds"]:
            levels.append((remaining(masks), accuracy, None, None))
            continue
        if time.time() > stop_at:  # a level counts only with both of its baselines
            return levels, True
        fresh = init_weights(np.random.default_rng([seed, 2, replica, level]))
        reinit = train(fresh, masks, data, steps, seed=[seed, 3, replica, level])[0]
        if time.time() > stop_at:
            return levels, True
        shuffled = random_mask_like(masks, np.random.default_rng([seed, 5, replica, level]))
        random_mask = train(rewound, shuffled, data, steps, seed=[seed, 6, replica, level])[0]
        levels.append((remaining(masks), accuracy, reinit, random_mask))
    return levels, False


def write_result(cfg, chains):
    """Levels every chain reached, averaged over chains in chain order (chains that never started left
    out); a figure the run did not reach is absent, never a placeholder."""
    chains = [chain for chain in chains if chain[0]]
    reached = min((len(levels) for levels, _ in chains), default=0)
    mean = lambda k, part: float(np.mean([levels[k][part] for levels, _ in chains]))
    fractions = [mean(k, 0) for k in range(reached)]
    tickets = [mean(k, 1) for k in range(reached)]
    compared = [k for k in range(reached) if chains[0][0][k][2] is not None]
    rounds = max(0, reached - 1)
    complete = len(chains) == cfg["seeds"] and rounds == cfg["rounds"]
    metrics = {"rounds": rounds, "steps_per_round": cfg["steps"], "seeds": len(chains)}
    if complete:
        dense, last = tickets[0], reached - 1
        matched = [f for f, t in zip(fractions, tickets) if t >= dense - 0.01]
        metrics = {
            "ticket_minus_random": tickets[last] - mean(last, 2),
            "dense_acc": dense,
            "ticket_acc": tickets[last],
            "random_acc": mean(last, 2),
            "random_mask_acc": mean(last, 3),
            "ticket_minus_random_mask": tickets[last] - mean(last, 3),
            "ticket_minus_dense": tickets[last] - dense,
            "remaining_fraction": fractions[last],
            "smallest_matching_fraction": min(matched),
            **metrics,
        }
    done = sum(max(0, len(levels) - 1) for levels, _ in chains)
    result = {
        "experiment": "lottery_ticket", "version": VERSION, "status": "ok" if complete else "partial",
        "progress": round(done / max(1, cfg["seeds"] * cfg["rounds"]), 4),
        "seed": cfg["seed"], "params": cfg["params"], "budget_seconds": cfg["budget"],
        "elapsed_seconds": round(time.monotonic() - START, 3), "metrics": metrics,
        "series": {"remaining_fraction": fractions, "ticket_acc": tickets,
                   "baseline_fraction": [fractions[k] for k in compared],
                   "random_acc": [mean(k, 2) for k in compared], "random_mask_acc": [mean(k, 3) for k in compared]},
        "summary": (
            f"dense {metrics['dense_acc']:.3f}; at {metrics['remaining_fraction']:.1%} of weights the ticket reaches "
            f"{metrics['ticket_acc']:.3f} vs {metrics['random_acc']:.3f} re-initialised and "
            f"{metrics['random_mask_acc']:.3f} with a random mask; ticket within 1 point of dense "
            f"down to {metrics['smallest_matching_fraction']:.1%}; {len(chains)} seeds"
            if complete else f"{done} of {cfg['seeds'] * cfg['rounds']} pruning rounds finished before the deadline"
        ),
    }
    with open(RESULT_FILE + ".tmp", "w") as handle:
        json.dump(result, handle)
    os.replace(RESULT_FILE + ".tmp", RESULT_FILE)


def main():
    cfg = settings()
    stop_at = time.time() + 0.85 * cfg["budget"] - (time.monotonic() - START)
    jobs = [(cfg["seed"], replica, cfg, stop_at) for replica in range(cfg["seeds"])]
    with ProcessPoolExecutor(max_workers=min(workers(cfg), cfg["seeds"])) as pool:
        chains = list(pool.map(chain, jobs))
    write_result(cfg, chains)


if __name__ == "__main__":
    main()
