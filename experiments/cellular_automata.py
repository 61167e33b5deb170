"""Evolving cellular automata that classify density: a genetic algorithm over radius-3 rules.

Question: can a genetic algorithm find one-dimensional cellular automaton rules (radius 3, 128-bit
rule tables) whose lattice of 149 cells settles to all 1s when the initial condition has a
majority of 1s and to all 0s otherwise, and how close do they come to the hand-made GKL rule?
Method: a population of 100 random rules (their fraction of 1s uniform on [0, 1]); each generation every rule runs 100 fresh initial
conditions whose number of 1s is uniform in 0..149, for up to 2N = 298 steps; fitness is the
fraction classified correctly (settled to the right uniform state). The top 20 are copied,
80 offspring come from single-point crossover of two elite parents and two mutations each.
After the manifest's `generations`, the best rule of each run's last generation and the GKL rule
are scored by the same code on `test_ics` fresh unbiased initial conditions (each cell 0 or 1 with
probability 1/2). The science is fixed by the params (generations, population, conditions); a
host's speed changes only the workunit's `runs`: independent GA runs, reported by their median.
Shows: the GA climbs far above the trivial rules (a default rule classifies only about half,
the local majority rule almost none), usually to block-expanding strategies; GKL scores about
0.82 on unbiased conditions at N = 149, which validates the simulator.
Reproduces: Mitchell, Crutchfield & Hraber (1994), "Evolving cellular automata to perform
computations", Physica D 75:361-391; Das, Mitchell & Crutchfield (1994), PPSN III.
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
RADIUS, CELLS = 3, 149
STEPS = 2 * CELLS
POPULATION, ELITE, ICS_PER_GENERATION = 100, 20, 100
# The level of block-expanding strategies on unbiased conditions at N = 149 (Mitchell et al.: 0.652).
BLOCK_EXPANDING = 0.6


def settings():
    params = json.loads(os.environ.get("AXIOM_PARAMS") or "{}")
    return {
        "budget": float(os.environ.get("AXIOM_RUN_DURATION", "60")),
        "seed": int(os.environ.get("AXIOM_SEED", "0")),
        "cpus": max(1, int(os.environ.get("AXIOM_CPUS") or os.cpu_count() or 1)),
        "params": params,
        "generations": int(params.get("generations", params.get("max_generations", 50))),
        "test_ics": int(params.get("test_ics", params.get("max_test_ics", 2000))),
        "runs": int(params.get("runs", 1)),
    }


def workers(cfg):
    """Worker processes: one per core, at most 61 on Windows (ProcessPoolExecutor refuses more there)."""
    return max(1, min(cfg["cpus"], 61)) if os.name == "nt" else cfg["cpus"]


def neighbourhoods(states):
    """Rule-table index of every cell: its 7-cell neighbourhood read left to right as a binary number."""
    wrapped = np.concatenate([states[:, -RADIUS:], states, states[:, :RADIUS]], axis=1)
    index = np.zeros(states.shape, np.uint8)
    for offset in range(2 * RADIUS + 1):
        index <<= 1
        index |= wrapped[:, offset:offset + CELLS]
    return index


def gkl_table():
    """The Gacs-Kurdyumov-Levin rule, built from its definition with the same neighbourhood order."""
    table = np.zeros(128, np.uint8)
    for index in range(128):
        cells = [(index >> (6 - k)) & 1 for k in range(7)]  # cells[3] is the centre
        left, right = (cells[0], cells[2], cells[3]), (cells[3], cells[4], cells[6])
        table[index] = int(sum(left) >= 2) if cells[3] == 0 else int(sum(right) >= 2)
    return table


def classified(job):
    """For each (rule, initial condition) pair: settled within STEPS steps to the uniform majority state."""
    tables, ics = job
    rules, count = len(tables), len(ics)
    majority = (2 * ics.sum(axis=1) > CELLS).astype(np.uint8)
    states = np.repeat(ics[None], rules, axis=0).reshape(rules * count, CELLS)
    rule_of = np.repeat(np.arange(rules), count)
    row_of = np.arange(rules * count)
    correct = np.zeros(rules * count, bool)
    flat = np.ascontiguousarray(tables, np.uint8).ravel()
    rule_base = rule_of.astype(np.intp) * 128
    for step in range(STEPS):
        following = flat[rule_base[:, None] + neighbourhoods(states)]
        if step % 4 == 3 or step == STEPS - 1:
            # Rows at a fixed point are finished: record whether they are the right uniform state.
            fixed = np.all(following == states, axis=1)
            if fixed.any():
                done = following[fixed]
                expected = majority[row_of[fixed] % count]
                correct[row_of[fixed]] = np.all(done == expected[:, None], axis=1)
                keep = ~fixed
                states, rule_base, row_of, following = states[keep], rule_base[keep], row_of[keep], following[keep]
                if not len(states):
                    break
        states = following
    return correct.reshape(rules, count)


def density_uniform_ics(rng, count):
    """Initial conditions whose number of 1s is uniform over 0..CELLS."""
    ics = np.zeros((count, CELLS), np.uint8)
    for row, ones in enumerate(rng.integers(0, CELLS + 1, count)):
        ics[row, rng.permutation(CELLS)[:ones]] = 1
    return ics


def score(pool, tables, ics, cpus):
    """Fraction classified correctly per rule, with the work split over the cores."""
    if len(tables) >= cpus:
        # Several chunks per core: rules settle at different speeds, so small chunks balance the load.
        chunks = [(part, ics) for part in np.array_split(tables, min(len(tables), 4 * cpus))]
        return np.concatenate([c.mean(axis=1) for c in pool.map(classified, chunks)])
    chunks = [(tables, part) for part in np.array_split(ics, cpus)]
    return np.concatenate(list(pool.map(classified, chunks)), axis=1).mean(axis=1)


def next_generation(rng, population, fitness):
    order = np.argsort(-fitness, kind="stable")
    elite = population[order[:ELITE]]
    offspring = []
    while len(offspring) < POPULATION - ELITE:
        a, b = elite[rng.integers(0, ELITE, 2)]
        cut = rng.integers(1, 128)
        for child in (np.concatenate([a[:cut], b[cut:]]), np.concatenate([b[:cut], a[cut:]])):
            child = child.copy()
            child[rng.choice(128, 2, replace=False)] ^= 1
            offspring.append(child)
    return np.concatenate([elite, np.array(offspring[: POPULATION - ELITE])])


def evolve(pool, cfg, run, cpus, deadline):
    """One GA run of the manifest's generations; its best rule of the last generation and the best
    fitness of each generation, or None when the deadline comes first."""
    rng = np.random.default_rng([cfg["seed"], 0, run])
    # Initial rules with their fraction of 1s (lambda) uniform on [0, 1], as in the original runs.
    population = (rng.random((POPULATION, 128)) < rng.random((POPULATION, 1))).astype(np.uint8)
    best_fitness, best = [], None
    while len(best_fitness) < cfg["generations"]:
        if time.monotonic() > deadline:
            return None
        fitness = score(pool, population, density_uniform_ics(rng, ICS_PER_GENERATION), cpus)
        best_fitness.append(float(fitness.max()))
        best = population[int(np.argmax(fitness))].copy()
        population = next_generation(rng, population, fitness)
    return best, best_fitness


def main():
    cfg = settings()
    deadline = START + 0.85 * cfg["budget"]
    # The chunks work is split into depend on the core count, the numbers do not: every rule and
    # initial condition is scored alone and the fractions are exact.
    cpus = workers(cfg)
    runs, tested = [], 0
    with ProcessPoolExecutor(max_workers=cpus) as pool:
        for run in range(cfg["runs"]):
            evolved = evolve(pool, cfg, run, cpus, deadline)
            if evolved is None:
                break
            runs.append(evolved)
        # Every run's best rule and GKL on the same fresh unbiased conditions, in blocks of at most 500.
        test_rng = np.random.default_rng([cfg["seed"], 1])
        tables = np.array([best for best, _ in runs] + [gkl_table()])
        hits = np.zeros(len(tables))
        while tested < cfg["test_ics"] and time.monotonic() < deadline:
            ics = test_rng.integers(0, 2, (min(500, cfg["test_ics"] - tested), CELLS)).astype(np.uint8)
            hits += score(pool, tables, ics, cpus) * len(ics)
            tested += len(ics)
    write_result(cfg, runs, tables, hits, tested)


def write_result(cfg, runs, tables, hits, tested):
    """Medians over the GA runs that finished; a figure the run did not reach is absent, never a zero."""
    complete = len(runs) == cfg["runs"] and tested == cfg["test_ics"]
    metrics = {"runs": len(runs), "generations": cfg["generations"], "test_ics": tested}
    series = {"generation": [], "best_fitness": [], "run_index": [], "run_performance": [], "best_rule": []}
    if complete:
        performance = hits / tested
        evolved = performance[:-1]
        best_run = int(np.argmax(evolved))
        metrics = {
            "median_rule_performance": float(np.median(evolved)),
            "block_expanding_share": float(np.mean(evolved >= BLOCK_EXPANDING)),
            "gkl_performance": float(performance[-1]),
            "best_rule_performance": float(evolved[best_run]),
            "median_final_fitness": float(np.median([fitness[-1] for _, fitness in runs])),
            **metrics,
        }
        for word in range(4):  # the best rule's 128 bits as four 32-bit numbers, most significant bit first
            metrics[f"best_rule_word{word}"] = int("".join(str(int(b)) for b in tables[best_run][32 * word:32 * (word + 1)]), 2)
        for index, (_, fitness) in enumerate(runs):
            series["generation"] += list(range(1, len(fitness) + 1))
            series["best_fitness"] += fitness
            series["run_index"] += [index] * len(fitness)
        series["run_performance"] = evolved.tolist()
        series["best_rule"] = [int(b) for b in tables[best_run]]
    done = sum(len(fitness) for _, fitness in runs)
    result = {
        "experiment": "cellular_automata", "version": VERSION, "status": "ok" if complete else "partial",
        "progress": round(0.8 * done / (cfg["runs"] * cfg["generations"]) + 0.2 * tested / max(1, cfg["test_ics"]), 4),
        "seed": cfg["seed"], "params": cfg["params"], "budget_seconds": cfg["budget"],
        "elapsed_seconds": round(time.monotonic() - START, 3), "metrics": metrics, "series": series,
        "summary": (
            f"{len(runs)} GA runs of {cfg['generations']} generations: their best rules classify a median "
            f"{metrics['median_rule_performance']:.3f} of {tested} unbiased initial conditions at N = {CELLS} "
            f"({metrics['block_expanding_share']:.0%} at the block-expanding level); GKL {metrics['gkl_performance']:.3f} by the same code"
            if complete else f"{len(runs)} of {cfg['runs']} GA runs and {tested} of {cfg['test_ics']} test conditions finished before the deadline"
        ),
    }
    with open(RESULT_FILE + ".tmp", "w") as handle:
        json.dump(result, handle)
    os.replace(RESULT_FILE + ".tmp", RESULT_FILE)


if __name__ == "__main__":
    main()
