"""This machine's speed per core in BOINC's units, as the planner's work models count them, and its BLAS.

Runs a fixed numpy workload (element-wise operations and Python overhead, no BLAS call: the BLAS is
accounted for by the work models' own calibration) on every core at once, so that a machine busy with
other work is measured as it is. The workload costs KERNEL_GFLOP in the planner's measure: it took
KERNEL_SECONDS on one core of the host the first batch's work models were measured on, whose BOINC
7.20.5 benchmark (p_fpops) is 7.65e9. Prints one JSON object: fpops (per core), seconds, cores, blas.
Our own program, run by `axiom demo` and `axiom run` on the machine they run on; never a workunit.
"""

import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

CALIBRATION_FPOPS = 7.65e9
KERNEL_SECONDS = 0.8  # the fastest of repeated runs on one core of the calibration host (docs/manifest.md)
KERNEL_GFLOP = KERNEL_SECONDS * CALIBRATION_FPOPS / 1e9
ROUNDS = 40000
REPEATS = 3


def kernel(_):
    """The fastest of REPEATS runs of the workload, as KERNEL_SECONDS was taken: one run of under a
    second is easily slowed by a moment's other work, and read that way the machine seemed up to a
    third slower from one run to the next."""
    import numpy as np

    best = float("inf")
    for _ in range(REPEATS):
        values = np.linspace(-1.0, 1.0, 512)
        started = time.perf_counter()
        for _ in range(ROUNDS):
            squashed = np.tanh(values) * 0.9 + values * 0.05
            values = squashed - squashed.mean() + np.sqrt(np.abs(squashed)) * 1e-3
            values = np.clip(values, -3.0, 3.0)
        best = min(best, time.perf_counter() - started)
    return best


def main():
    cores = int(sys.argv[1]) if len(sys.argv) > 1 else (os.cpu_count() or 1)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    from axiom_client import blas_library

    with ProcessPoolExecutor(max_workers=cores) as pool:
        seconds = sorted(pool.map(kernel, range(cores)))
    # The median core (with an even count, the mean of the middle two, not the slower of them).
    middle = len(seconds) // 2
    median = seconds[middle] if len(seconds) % 2 else (seconds[middle - 1] + seconds[middle]) / 2
    print(json.dumps({"fpops": KERNEL_GFLOP * 1e9 / median, "seconds": seconds, "cores": cores,
                      "blas": blas_library()}))


if __name__ == "__main__":
    main()
