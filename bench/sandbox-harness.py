"""Runs one script the way the volunteer client does, in the sandbox or without it, and prints the
wall time and the CPU time of everything it ran (RUSAGE_CHILDREN: every process waited for), and
the status of the result it wrote, and in the sandbox the seconds its processes were running or waiting
for a core (sampled every 0.1 s). With "memory" after the params and seed, it also samples every
0.1 s the resident memory its processes hold together,
summed as the BOINC client sums a task's, and prints the peak and the most processes seen.

Usage: sandbox-harness.py SCRIPTS_DIR SCRIPT CORES BUDGET sandbox|plain [PARAMS [SEED [memory]]]"""
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time

scripts_dir, script, cores, budget, mode = sys.argv[1:6]
params = sys.argv[6] if len(sys.argv) > 6 else "{}"
seed = sys.argv[7] if len(sys.argv) > 7 else "1"
sample_memory = sys.argv[8:9] == ["memory"]
sys.path.insert(0, scripts_dir)
import axiom_client  # noqa: E402

slot = tempfile.mkdtemp(prefix="axiom-bench-sandbox-")
os.chmod(slot, 0o755)
name = os.path.basename(script)
with open(script, "rb") as handle:
    body = handle.read()
wu = {"experiment": name[:-3], "wu_name": "", "run_duration": float(budget), "seed": int(seed),
      "params": json.loads(params), "cpus": int(cores), "memory_gb": 4}
memory = {}
started = time.monotonic()
if mode == "sandbox":
    run_dir = os.path.join(slot, "run")
    run_fd = axiom_client.prepare_run_directory(run_dir, [])
    granted, locks = axiom_client.claim_cores(int(cores))
    plan = axiom_client.sandbox_plan((name, body), wu, run_dir, run_fd, int(cores), granted, True)
    peak, processes, done, runnable = 0, 0, threading.Event(), {}

    def sample():
        global peak, processes
        while not done.wait(0.1):
            if sample_memory:
                used = axiom_client.tree_memory_bytes(buffers=False) or 0
                if used > peak:
                    peak, processes = used, len(axiom_client._descendants())
            for pid in axiom_client._descendants():
                try:
                    with open(f"/proc/{pid}/schedstat", encoding="ascii") as handle:
                        ran, waited = handle.read().split()[:2]
                    runnable[pid] = (int(ran) + int(waited)) / 1e9
                except (OSError, ValueError):
                    pass

    threading.Thread(target=sample, daemon=True).start()
    run = axiom_client.run_script(wu, 2.0, 3.0, plan, run_dir, run_fd)
    done.set()
    wall, code = time.monotonic() - started, run["code"]
    if sample_memory:
        memory = {"peak_mb": peak / 2**20, "processes": processes}
    # Seconds its processes were running or ready to run (/proc/<pid>/schedstat: on a CPU, and waiting
    # in the run queue): what it asked of the cores, whatever else the machine was running.
    memory["runnable"] = sum(runnable.values())
    try:
        status = axiom_client.read_envelope(run["workspace"].fd).get("status")
    except axiom_client.TaskError:
        status = None
    run["workspace"].close()
else:
    shutil.copy(script, slot)
    env = {"AXIOM_RUN_DURATION": budget, "AXIOM_SEED": seed, "AXIOM_CPUS": cores, "AXIOM_PARAMS": params,
           "PYTHONHASHSEED": "0", "PATH": os.environ.get("PATH", ""), "HOME": slot}
    code = subprocess.run([sys.executable, os.path.join(slot, name)], cwd=slot, env=env, stdout=subprocess.DEVNULL,
                          check=False).returncode
    wall = time.monotonic() - started
    try:
        with open(os.path.join(slot, "experiment_result.json"), encoding="utf-8") as handle:
            status = json.load(handle).get("status")
    except (OSError, ValueError, AttributeError):
        status = None
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
shutil.rmtree(slot, ignore_errors=True)
print(json.dumps({"code": code, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "status": status, **memory}))
