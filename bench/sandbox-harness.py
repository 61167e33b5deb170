"""Runs one script the way the volunteer client does, in the sandbox or without it, and prints the
wall time and the CPU time of everything it ran (RUSAGE_CHILDREN: every process waited for)."""
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
sys.path.insert(0, scripts_dir)
import axiom_sandbox  # noqa: E402

workdir = tempfile.mkdtemp(prefix="axiom-bench-sandbox-")
os.chmod(workdir, 0o755)
shutil.copy(script, workdir)
name = os.path.basename(script)
env = {"AXIOM_RUN_DURATION": budget, "AXIOM_SEED": "1", "AXIOM_CPUS": cores, "AXIOM_PARAMS": params,
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
code = process.wait()
wall = time.monotonic() - started
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
shutil.rmtree(workdir, ignore_errors=True)
print(json.dumps({"code": code, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime}))
