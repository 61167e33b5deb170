"""Runs one experiment script in the sandbox with AXIOM_CPUS workers, as the volunteer client does,
and prints the most resident memory its processes held together, summed the way the client (and
the BOINC client) sums a task's: VmRSS of every process below this one, sampled every 0.1 s."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

scripts_dir, script, cores, budget, seed, params = sys.argv[1:7]
sys.path.insert(0, scripts_dir)
import axiom_client  # noqa: E402
import axiom_sandbox  # noqa: E402

workdir = tempfile.mkdtemp(prefix="axiom-bench-memory-")
os.chmod(workdir, 0o755)
shutil.copy(script, workdir)
name = os.path.basename(script)
env = {"AXIOM_RUN_DURATION": budget, "AXIOM_SEED": seed, "AXIOM_CPUS": cores, "AXIOM_PARAMS": params,
       "PYTHONHASHSEED": "0", "PATH": os.environ.get("PATH", ""), "HOME": workdir, "TMPDIR": workdir}
limits = {"memory_bytes": 8 * 2**30, "processes": 64 + 8 * int(cores), "file_bytes": 2**28, "cpu_seconds": 100000}
plan = axiom_sandbox.plan(workdir, name, env, limits)
if plan.isolation != "sandbox":
    raise SystemExit(f"no sandbox here: {plan.reason}")
if plan.as_nobody:
    axiom_sandbox.hand_over(workdir)
os.makedirs(os.path.join(workdir, "tmp"), exist_ok=True)
started = time.monotonic()
process = subprocess.Popen(plan.argv, cwd=workdir, env=plan.env, pass_fds=plan.fds, preexec_fn=plan.preexec,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
plan.started()
peak, peak_processes = 0, 0
while process.poll() is None:
    used = axiom_client.tree_memory_bytes() or 0
    if used > peak:
        peak, peak_processes = used, len(axiom_client._descendants())
    time.sleep(0.1)
wall = time.monotonic() - started
status = None
try:
    with open(os.path.join(workdir, "experiment_result.json"), encoding="utf-8") as handle:
        status = json.load(handle).get("status")
except (OSError, ValueError):
    pass
shutil.rmtree(workdir, ignore_errors=True)
print(json.dumps({"code": process.returncode, "wall": wall, "peak_mb": peak / 2**20, "processes": peak_processes,
                  "status": status}))
