"""Runs one script the way the volunteer client does, in the sandbox or without it, and prints the
wall time and the CPU time of everything it ran (RUSAGE_CHILDREN: every process waited for), and
the status of the result it wrote. With "memory" after the params and seed, it also samples every
0.1 s the resident memory its processes hold together, summed as the client (and the BOINC client)
sums a task's, and prints the peak.

Usage: sandbox-harness.py SCRIPTS_DIR SCRIPT CORES BUDGET sandbox|plain [PARAMS [SEED [memory]]]"""
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

scripts_dir, script, cores, budget, mode = sys.argv[1:6]
params = sys.argv[6] if len(sys.argv) > 6 else "{}"
seed = sys.argv[7] if len(sys.argv) > 7 else "1"
sample_memory = sys.argv[8:9] == ["memory"]
sys.path.insert(0, scripts_dir)
import axiom_client  # noqa: E402
import axiom_sandbox  # noqa: E402

workdir = tempfile.mkdtemp(prefix="axiom-bench-sandbox-")
os.chmod(workdir, 0o755)
shutil.copy(script, workdir)
name = os.path.basename(script)
env = {"AXIOM_RUN_DURATION": budget, "AXIOM_SEED": seed, "AXIOM_CPUS": cores, "AXIOM_PARAMS": params,
       "PYTHONHASHSEED": "0", "PATH": os.environ.get("PATH", "")}
limits = {"memory_bytes": 4 * 2**30, "processes": 64 + 8 * int(cores), "file_bytes": 2**28, "cpu_seconds": 100000}
started = time.monotonic()
if mode == "sandbox":
    plan = axiom_sandbox.plan(workdir, name, env, limits)
    if plan.isolation != "sandbox":
        raise SystemExit(f"no sandbox here: {plan.reason}")
    if plan.as_nobody:
        axiom_sandbox.hand_over(workdir)
    process = subprocess.Popen(plan.argv, cwd=workdir, env=plan.env, pass_fds=plan.fds, preexec_fn=plan.preexec,
                               stdout=subprocess.DEVNULL)
    plan.started()
else:
    process = subprocess.Popen([sys.executable, os.path.join(workdir, name)], cwd=workdir,
                               env={**env, "HOME": workdir}, stdout=subprocess.DEVNULL)
memory = {}
if sample_memory:
    peak, processes = 0, 0
    while process.poll() is None:
        used = axiom_client.tree_memory_bytes() or 0
        if used > peak:
            peak, processes = used, len(axiom_client._descendants())
        time.sleep(0.1)
    memory = {"peak_mb": peak / 2**20, "processes": processes}
code = process.wait()
wall = time.monotonic() - started
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
status = None
try:
    with open(os.path.join(workdir, "experiment_result.json"), encoding="utf-8") as handle:
        status = json.load(handle).get("status")
except (OSError, ValueError, AttributeError):
    pass
shutil.rmtree(workdir, ignore_errors=True)
print(json.dumps({"code": code, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "status": status, **memory}))
