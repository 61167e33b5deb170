"""Grokking on modular addition across five model scales.

Question: do networks fit their training pairs of (a + b) mod p long before they generalise, and
does the ability to generalise at all appear only above some model scale?
Method: a quadratic network (embeddings E_a + E_b, squared, linear read-out to p logits) of
hidden width 16 to 256 is trained full batch with AdamW (lr 1e-2, beta2 0.98, weight decay 1.0)
on 40 % of the pairs for p = 43, for the workunit's `max_epochs` (the result is a
function of seed and params; a run cut short by its deadline is partial); train and test accuracy
are checked every 10 epochs for the first 500 and every 50 after, and kept at 60 log-spaced ones.
The split is by unordered pair: the network is symmetric in a and b, so a test pair whose swap was
trained on is answered correctly for free (a split by ordered pair gives a test accuracy of about the
training fraction the moment the training set is fitted, not chance).
Shows: training accuracy reaches 100 % many epochs before test accuracy jumps from chance to
near 100 % (grokking); the smallest widths memorise but do not generalise within the run.
Reproduces: Power et al. (2022), "Grokking: Generalization Beyond Overfitting on Small
Algorithmic Datasets", arXiv:2201.02177; Gromov (2023), "Grokking modular arithmetic",
arXiv:2301.02679; Nanda et al. (2023), ICLR.
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
WIDTHS = [16, 32, 64, 128, 256]
LOG_EVERY = 50
# Fitting takes tens of epochs at this learning rate: the first EARLY_EPOCHS are checked more often.
EARLY_EVERY, EARLY_EPOCHS = 10, 500
ROWS = 60
FIT, GROK = 0.99, 0.95


def settings():
    params = json.loads(os.environ.get("AXIOM_PARAMS") or "{}")
    return {
        "budget": float(os.environ.get("AXIOM_RUN_DURATION", "60")),
        "seed": int(os.environ.get("AXIOM_SEED", "0")),
        "cpus": max(1, int(os.environ.get("AXIOM_CPUS") or os.cpu_count() or 1)),
        "params": params,
        "modulus": int(params.get("modulus", 43)),
        "train_fraction": float(params.get("train_fraction", 0.4)),
        "lr": float(params.get("lr", 1e-2)),
        "max_epochs": int(params.get("max_epochs", 20000)),
        "init_scale": float(params.get("init_scale", 1.0)),
        "weight_decay": float(params.get("weight_decay", 1.0)),
    }


def workers(cfg):
    """Worker processes: one per core, at most 61 on Windows (ProcessPoolExecutor refuses more there)."""
    return max(1, min(cfg["cpus"], 61)) if os.name == "nt" else cfg["cpus"]


def one_hot(indices, size):
    matrix = np.zeros((len(indices), size), np.float32)
    matrix[np.arange(len(indices)), indices] = 1.0
    return matrix


def split(seed, p, fraction):
    """Train and test pairs (a, b), the same for every scale, split by unordered pair: (a, b) and
    (b, a) are on the same side, since the network cannot tell them apart."""
    unordered = np.array([(a, b) for a in range(p) for b in range(a, p)])
    np.random.default_rng([seed, 0]).shuffle(unordered)
    cut = int(fraction * len(unordered))

    def both_orders(rows):
        return np.array([pair for a, b in rows for pair in sorted({(a, b), (b, a)})])

    return both_orders(unordered[:cut]), both_orders(unordered[cut:])


def train_scale(job):
    """Trains one width; returns its log rows (epoch, train acc, test acc), the epochs of fit and grok,
    and whether the deadline cut it short (then its rows depend on the host's speed)."""
    seed, width, cfg, stop_at = job
    p = cfg["modulus"]
    train, test = split(seed, p, cfg["train_fraction"])
    a_train, b_train, a_test, b_test = (one_hot(x, p) for x in (train[:, 0], train[:, 1], test[:, 0], test[:, 1]))
    y_train, y_test = (train[:, 0] + train[:, 1]) % p, (test[:, 0] + test[:, 1]) % p
    targets = one_hot(y_train, p)
    rng = np.random.default_rng([seed, 1, width])
    scale = cfg["init_scale"]
    embed = (scale * rng.standard_normal((p, width)) / np.sqrt(width)).astype(np.float32)
    readout = (scale * rng.standard_normal((width, p)) / np.sqrt(width)).astype(np.float32)
    params, first, second = [embed, readout], [np.zeros_like(embed), np.zeros_like(readout)], [np.zeros_like(embed), np.zeros_like(readout)]
    lr, beta1, beta2, decay = cfg["lr"], 0.9, 0.98, cfg["weight_decay"]
    rows, fit_epoch, grok_epoch, cut = [], -1, -1, False
    # Every width trains all max_epochs, grokked or not, so the work is what the params say. Accuracy
    # is checked every LOG_EVERY epochs (EARLY_EVERY in the first EARLY_EPOCHS); rows are kept at ROWS log-spaced checks (and at the fit and
    # the grok), so that a long run's series stays small.
    checks = max(1, cfg["max_epochs"] // LOG_EVERY)
    kept = {LOG_EVERY * int(round(c)) for c in np.geomspace(1, checks, ROWS)} | {cfg["max_epochs"]}
    for epoch in range(1, cfg["max_epochs"] + 1):
        if epoch % 5 == 0 and time.time() > stop_at:
            cut = True  # how far it got is the last check kept
            break
        hidden_in = a_train @ embed + b_train @ embed
        hidden = hidden_in * hidden_in
        logits = hidden @ readout
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        grad_logits = (probs - targets) / len(train)
        grad_hidden_in = (grad_logits @ readout.T) * 2 * hidden_in
        grads = [a_train.T @ grad_hidden_in + b_train.T @ grad_hidden_in, hidden.T @ grad_logits]
        for param, grad, m, v in zip(params, grads, first, second):
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad * grad
            param *= 1 - lr * decay
            param -= lr * (m / (1 - beta1**epoch)) / (np.sqrt(v / (1 - beta2**epoch)) + 1e-8)
        every = EARLY_EVERY if epoch <= EARLY_EPOCHS else LOG_EVERY
        if epoch % every == 0 or epoch == cfg["max_epochs"]:  # and always at the last epoch
            train_acc = float(np.mean(probs.argmax(axis=1) == y_train))
            test_in = a_test @ embed + b_test @ embed
            test_acc = float(np.mean(((test_in * test_in) @ readout).argmax(axis=1) == y_test))
            if fit_epoch < 0 and train_acc >= FIT:
                fit_epoch = epoch
            if grok_epoch < 0 and test_acc >= GROK:
                grok_epoch = epoch
            cut = time.time() > stop_at and epoch < cfg["max_epochs"]
            if epoch in kept or epoch in (fit_epoch, grok_epoch) or cut:
                rows.append((epoch, train_acc, test_acc))
            if cut:
                break
    return width, rows, fit_epoch, grok_epoch, cut


def epochs_done(cfg, outcome):
    """Epochs of a width's planned work done."""
    if not outcome or not outcome[0]:
        return 0
    rows, _, _, cut = outcome
    return rows[-1][0] if cut else cfg["max_epochs"]


def write_result(cfg, outcomes):
    series = {"scale": [], "epoch": [], "train_acc": [], "test_acc": []}
    metrics = {"scales_grokked": 0, "delay_ratio_largest": 0.0, "test_acc_at_fit_largest": 1.0}
    for width in WIDTHS:
        rows, fit_epoch, grok_epoch, _ = outcomes.get(width, ([], -1, -1, True))
        for epoch, train_acc, test_acc in rows:
            series["scale"].append(width)
            series["epoch"].append(epoch)
            series["train_acc"].append(train_acc)
            series["test_acc"].append(test_acc)
        metrics[f"fit_epoch_w{width}"] = fit_epoch
        metrics[f"grok_epoch_w{width}"] = grok_epoch
        # The test accuracy each width ends at: whether "only larger widths" is a jump or a grade
        # that the 95% threshold makes look like one.
        metrics[f"final_test_acc_w{width}"] = rows[-1][2] if rows else 0.0
        if grok_epoch > 0:
            metrics["scales_grokked"] += 1
            metrics["delay_ratio_largest"] = grok_epoch / max(fit_epoch, EARLY_EVERY)
            # Grokking is generalisation long after memorising: test accuracy when the training set
            # was fitted should be near chance (1/p), not already well on its way.
            at_fit = [test_acc for epoch, _, test_acc in rows if epoch == fit_epoch]
            metrics["test_acc_at_fit_largest"] = at_fit[0] if at_fit else 1.0
    grokked = [w for w in WIDTHS if metrics[f"grok_epoch_w{w}"] > 0]
    result = {
        "experiment": "emergent_abilities", "version": VERSION,
        "status": "ok" if all(w in outcomes and not outcomes[w][3] for w in WIDTHS) else "partial",
        "progress": round(sum(epochs_done(cfg, outcomes.get(w)) for w in WIDTHS) / (len(WIDTHS) * cfg["max_epochs"]), 4),
        "seed": cfg["seed"], "params": cfg["params"], "budget_seconds": cfg["budget"],
        "elapsed_seconds": round(time.monotonic() - START, 3), "metrics": metrics, "series": series,
        "summary": (
            f"{len(grokked)} of {len(WIDTHS)} widths grokked (p = {cfg['modulus']}); largest: test 95% at epoch "
            f"{metrics[f'grok_epoch_w{grokked[-1]}']}, {metrics['delay_ratio_largest']:.1f}x after fitting the training set; "
            "final test accuracy by width: " + ", ".join(f"{w}: {metrics[f'final_test_acc_w{w}']:.2f}" for w in WIDTHS)
            if grokked else f"no width generalised within the run (p = {cfg['modulus']})"
        ),
    }
    with open(RESULT_FILE + ".tmp", "w") as handle:
        json.dump(result, handle)
    os.replace(RESULT_FILE + ".tmp", RESULT_FILE)


def main():
    cfg = settings()
    stop_at = time.time() + 0.85 * cfg["budget"] - (time.monotonic() - START)
    outcomes = {}
    with ProcessPoolExecutor(max_workers=min(workers(cfg), len(WIDTHS))) as pool:
        # Largest first: they take longest per epoch and are the ones expected to generalise.
        jobs = [(cfg["seed"], width, cfg, stop_at) for width in reversed(WIDTHS)]
        for width, rows, fit_epoch, grok_epoch, cut in pool.map(train_scale, jobs):
            outcomes[width] = (rows, fit_epoch, grok_epoch, cut)
    write_result(cfg, outcomes)


if __name__ == "__main__":
    main()
