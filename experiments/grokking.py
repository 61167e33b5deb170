"""Grokking on modular addition: generalisation long after the training set is fitted.

Question: does a network fit its training pairs of (a + b) mod p long before it generalises, with
its test accuracy at chance when the training set is fitted and near 100 % only many epochs later?
Method: a quadratic network (embeddings E_a + E_b, squared, linear read-out to p logits) of the
manifest's hidden `width` is trained full batch with AdamW (lr 1e-2, beta2 0.98, weight decay 1.0)
on 40 % of the pairs for p = 43, for the manifest's `epochs`; train and test accuracy are checked
every 10 epochs for the first 500 and every 50 after, and kept at 60 log-spaced ones. The science
is fixed by the params (width, epochs, split); a host's speed changes only the workunit's `seeds`:
independent splits and initialisations, each trained alone, whose fit and grok epochs are reported
as medians. The split is by unordered pair: the network is symmetric in a and b, so a test pair
whose swap was trained on is answered correctly for free (a split by ordered pair gives a test
accuracy of about the training fraction the moment the training set is fitted, not chance).
Shows: training accuracy reaches 100 % many epochs before test accuracy jumps from chance to near
100 % (grokking). Formerly `emergent_abilities`, which also claimed that only larger widths
generalise; with the training length set by the host's speed, that threshold moved with the host.
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

VERSION = "1.1.0"
RESULT_FILE = "experiment_result.json"
START = time.monotonic()
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
        "epochs": int(params.get("epochs", 2000)),
        "width": int(params.get("width", 128)),
        "seeds": int(params.get("seeds", 1)),
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


def split(seed, replica, p, fraction):
    """Train and test pairs (a, b), the same for every scale, split by unordered pair: (a, b) and
    (b, a) are on the same side, since the network cannot tell them apart."""
    unordered = np.array([(a, b) for a in range(p) for b in range(a, p)])
    np.random.default_rng([seed, 0, replica]).shuffle(unordered)
    cut = int(fraction * len(unordered))

    def both_orders(rows):
        return np.array([pair for a, b in rows for pair in sorted({(a, b), (b, a)})])

    return both_orders(unordered[:cut]), both_orders(unordered[cut:])


def train_seed(job):
    """Trains one seed's split and initialisation; returns its log rows (epoch, train acc, test acc), the
    epochs of fit and grok, and whether the deadline cut it short (then it is left out)."""
    seed, replica, cfg, stop_at = job
    p, width = cfg["modulus"], cfg["width"]
    train, test = split(seed, replica, p, cfg["train_fraction"])
    a_train, b_train, a_test, b_test = train[:, 0], train[:, 1], test[:, 0], test[:, 1]
    # The embedding's gradient gathers each token's rows in a fixed order (a sort, then sums of runs).
    tokens = np.concatenate([a_train, b_train])
    order = np.argsort(tokens, kind="stable")
    present, run_starts = np.unique(tokens[order], return_index=True)
    y_train, y_test = (train[:, 0] + train[:, 1]) % p, (test[:, 0] + test[:, 1]) % p
    targets = one_hot(y_train, p)
    rng = np.random.default_rng([seed, 1, replica])
    scale = cfg["init_scale"]
    embed = (scale * rng.standard_normal((p, width)) / np.sqrt(width)).astype(np.float32)
    readout = (scale * rng.standard_normal((width, p)) / np.sqrt(width)).astype(np.float32)
    params, first, second = [embed, readout], [np.zeros_like(embed), np.zeros_like(readout)], [np.zeros_like(embed), np.zeros_like(readout)]
    lr, beta1, beta2, decay = cfg["lr"], 0.9, 0.98, cfg["weight_decay"]
    rows, fit_epoch, grok_epoch, at_fit, cut = [], -1, -1, None, False
    # Every seed trains all its epochs, grokked or not, so the work is what the params say. Accuracy
    # is checked every LOG_EVERY epochs (EARLY_EVERY in the first EARLY_EPOCHS); rows are kept at ROWS
    # log-spaced checks fixed by the params, so that a long run's series stays small, and so that two
    # replicas keep the same rows even where float32 rounding (another BLAS, another core count) moves
    # a threshold crossing by one check.
    checks = max(1, cfg["epochs"] // LOG_EVERY)
    kept = {LOG_EVERY * int(round(c)) for c in np.geomspace(1, checks, ROWS)} | {cfg["epochs"]}
    for epoch in range(1, cfg["epochs"] + 1):
        if epoch % 5 == 0 and time.time() > stop_at:
            cut = True  # how far it got is the last check kept
            break
        hidden_in = embed[a_train] + embed[b_train]
        hidden = hidden_in * hidden_in
        logits = hidden @ readout
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        grad_logits = (probs - targets) / len(train)
        grad_hidden_in = (grad_logits @ readout.T) * 2 * hidden_in
        grad_embed = np.zeros_like(embed)
        grad_embed[present] = np.add.reduceat(np.concatenate([grad_hidden_in, grad_hidden_in])[order], run_starts)
        grads = [grad_embed, hidden.T @ grad_logits]
        for param, grad, m, v in zip(params, grads, first, second):
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad * grad
            param *= 1 - lr * decay
            param -= lr * (m / (1 - beta1**epoch)) / (np.sqrt(v / (1 - beta2**epoch)) + 1e-8)
        every = EARLY_EVERY if epoch <= EARLY_EPOCHS else LOG_EVERY
        if epoch % every == 0 or epoch == cfg["epochs"]:  # and always at the last epoch
            train_acc = float(np.mean(probs.argmax(axis=1) == y_train))
            test_in = embed[a_test] + embed[b_test]
            test_acc = float(np.mean(((test_in * test_in) @ readout).argmax(axis=1) == y_test))
            if fit_epoch < 0 and train_acc >= FIT:
                fit_epoch, at_fit = epoch, test_acc
            if grok_epoch < 0 and test_acc >= GROK:
                grok_epoch = epoch
            cut = time.time() > stop_at and epoch < cfg["epochs"]
            if epoch in kept or cut:
                rows.append((epoch, train_acc, test_acc))
            if cut:
                break
    return replica, rows, fit_epoch, grok_epoch, at_fit, cut


def median(values):
    return float(np.median(values)) if values else None


def write_result(cfg, outcomes):
    """Medians over the seeds that finished (a seed cut by the deadline is left out, never a zero)."""
    done = [outcomes[r] for r in sorted(outcomes) if not outcomes[r][4]]
    series = {"seed_index": [], "epoch": [], "train_acc": [], "test_acc": []}
    fits, groks, ratios, at_fit, finals = [], [], [], [], []
    for index, (rows, fit_epoch, grok_epoch, test_at_fit, _) in enumerate(done):
        for epoch, train_acc, test_acc in rows:
            series["seed_index"].append(index)
            series["epoch"].append(epoch)
            series["train_acc"].append(train_acc)
            series["test_acc"].append(test_acc)
        finals.append(rows[-1][2])
        if fit_epoch > 0:
            fits.append(fit_epoch)
            at_fit.append(test_at_fit)
        if grok_epoch > 0 and fit_epoch > 0:
            groks.append(grok_epoch)
            ratios.append(grok_epoch / max(fit_epoch, EARLY_EVERY))
    metrics = {"seeds": len(done), "epochs": cfg["epochs"], "width": cfg["width"]}
    if done:
        metrics["grokked_fraction"] = len(groks) / len(done)
        metrics["final_test_acc"] = median(finals)
        metrics["chance"] = 1.0 / cfg["modulus"]
    # Each figure only where some seed reached it: absent, never a placeholder.
    for key, values in (("delay_ratio", ratios), ("test_acc_at_fit", at_fit), ("fit_epoch", fits), ("grok_epoch", groks)):
        if values:
            metrics[key] = median(values)
    metrics = {key: metrics[key] for key in ("delay_ratio", "grokked_fraction", "test_acc_at_fit", "final_test_acc",
                                             "fit_epoch", "grok_epoch", "chance", "seeds", "epochs", "width") if key in metrics}
    result = {
        "experiment": "grokking", "version": VERSION,
        "status": "ok" if len(done) == cfg["seeds"] else "partial",
        "progress": round(len(done) / cfg["seeds"], 4),
        "seed": cfg["seed"], "params": cfg["params"], "budget_seconds": cfg["budget"],
        "elapsed_seconds": round(time.monotonic() - START, 3), "metrics": metrics, "series": series,
        "summary": (
            f"{len(groks)} of {len(done)} seeds grokked (p = {cfg['modulus']}, width {cfg['width']}, {cfg['epochs']} epochs): "
            f"training set fitted at epoch {metrics['fit_epoch']:.0f} with test accuracy {metrics['test_acc_at_fit']:.3f} "
            f"(chance {1 / cfg['modulus']:.3f}), test 95% at epoch {metrics['grok_epoch']:.0f}, {metrics['delay_ratio']:.1f}x later"
            if groks and fits else f"{len(groks)} of {len(done)} seeds grokked within {cfg['epochs']} epochs (p = {cfg['modulus']})"
        ),
    }
    with open(RESULT_FILE + ".tmp", "w") as handle:
        json.dump(result, handle)
    os.replace(RESULT_FILE + ".tmp", RESULT_FILE)


def main():
    cfg = settings()
    stop_at = time.time() + 0.85 * cfg["budget"] - (time.monotonic() - START)
    outcomes = {}
    with ProcessPoolExecutor(max_workers=min(workers(cfg), cfg["seeds"])) as pool:
        jobs = [(cfg["seed"], replica, cfg, stop_at) for replica in range(cfg["seeds"])]
        for replica, rows, fit_epoch, grok_epoch, at_fit, cut in pool.map(train_seed, jobs):
            outcomes[replica] = (rows, fit_epoch, grok_epoch, at_fit, cut)
    write_result(cfg, outcomes)


if __name__ == "__main__":
    main()
