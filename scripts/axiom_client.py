#!/usr/bin/env python3
"""Axiom Lab reference volunteer client: runs one workunit the way a volunteer host does.

A BOINC wrapper (or a bundled Python runtime with numpy) executes this in the task's slot
directory. It reads the workunit input (wu.json), downloads the experiment script over https
with certificate verification, refuses it unless its sha256 matches the workunit, runs it in a
child process with the contract's environment and a hard time limit, and writes the result file
that BOINC uploads. A failed script is a failed task: the exit status is non-zero, never a
silent success.

Usage: axiom_client.py [--wu wu.json] [--out axiom_result.json] [--workdir DIR]
                       [--grace SECONDS] [--kill-after SECONDS] [--allow-file-urls]

Exit status: 0 the script ran and wrote a result; 1 the task failed (see the result file's
status); 2 usage or an unreadable workunit.
Standard library only. Environment: SSL_CERT_FILE / SSL_CERT_DIR choose trusted certificates.
"""

import argparse
import hashlib
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.parse
import urllib.request

CLIENT_VERSION = "1.0.0"
RESULT_FILE = "experiment_result.json"
MAX_SCRIPT_BYTES = 1024 * 1024
MAX_RESULT_BYTES = 4 * 1024 * 1024
STDERR_TAIL_BYTES = 4000
# Environment variables passed through to the script besides the contract's own.
PASSTHROUGH = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
REQUIRED_FIELDS = {
    "mode": str, "experiment": str, "script_url": str, "script_sha256": str,
    "run_duration": (int, float), "seed": int, "params": dict,
}


class TaskError(Exception):
    """The task cannot succeed; `status` says why."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def read_workunit(path):
    with open(path, encoding="utf-8") as handle:
        wu = json.load(handle)
    if not isinstance(wu, dict):
        raise ValueError("wu.json must hold a JSON object")
    for field, kind in REQUIRED_FIELDS.items():
        if not isinstance(wu.get(field), kind) or isinstance(wu.get(field), bool):
            raise ValueError(f"wu.json: field '{field}' is missing or has the wrong type")
    if wu["mode"] != "experiment":
        raise ValueError(f"wu.json: mode must be 'experiment', found {wu['mode']!r}")
    if wu["run_duration"] <= 0:
        raise ValueError("wu.json: run_duration must be positive")
    return wu


def download(url, allow_file_urls):
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme == "file" and allow_file_urls:
        with urllib.request.urlopen(url) as response:
            return response.read(MAX_SCRIPT_BYTES + 1)
    if scheme != "https":
        raise TaskError("download-failed", f"refusing to download over {scheme or 'an unknown scheme'}: only https is allowed")
    context = ssl.create_default_context()  # verifies the certificate and the host name
    try:
        with urllib.request.urlopen(url, context=context, timeout=60) as response:
            return response.read(MAX_SCRIPT_BYTES + 1)
    except (OSError, ValueError) as error:
        raise TaskError("download-failed", f"cannot download the script: {error}") from error


def fetch_script(wu, workdir, allow_file_urls):
    body = download(wu["script_url"], allow_file_urls)
    if len(body) > MAX_SCRIPT_BYTES:
        raise TaskError("rejected-script", f"the script is larger than {MAX_SCRIPT_BYTES} bytes")
    digest = hashlib.sha256(body).hexdigest()
    if digest != wu["script_sha256"].lower():
        raise TaskError("rejected-script", f"script sha256 {digest} does not match the workunit's {wu['script_sha256']}")
    path = os.path.join(workdir, f"{wu['experiment']}.py")
    with open(path, "wb") as handle:
        handle.write(body)
    return path


def script_environment(wu, workdir):
    env = {name: os.environ[name] for name in PASSTHROUGH if name in os.environ}
    cpus = wu.get("cpus") or os.cpu_count() or 1
    env.update({
        "AXIOM_RUN_DURATION": str(wu["run_duration"]),
        "AXIOM_SEED": str(wu["seed"]),
        "AXIOM_PARAMS": json.dumps(wu["params"]),
        "AXIOM_WU_NAME": str(wu.get("wu_name", "")),
        "AXIOM_CPUS": str(int(cpus)),
        "HOME": workdir,
        "TMPDIR": workdir,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
    })
    return env


def stop(process, kill_after):
    """Terminates the script and everything it started; kills what is still there after kill_after s."""
    def send(sig):
        try:
            if os.name == "posix":
                os.killpg(process.pid, sig)
            elif sig == signal.SIGTERM:
                process.terminate()
            else:
                process.kill()
        except (ProcessLookupError, PermissionError):
            pass

    send(signal.SIGTERM)
    try:
        process.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL if os.name == "posix" else signal.SIGTERM)
        process.wait()
    if os.name == "posix":
        send(signal.SIGKILL)  # worker processes that ignored SIGTERM


def run_script(script, wu, workdir, grace, kill_after):
    """Runs the script with the hard limit run_duration + grace; returns (exit code, elapsed, overran, stderr tail)."""
    stderr_path = os.path.join(workdir, "stderr.txt")
    started = time.monotonic()
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, script], cwd=workdir, env=script_environment(wu, workdir),
            stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr,
            start_new_session=(os.name == "posix"),
        )
        overran = False
        try:
            process.wait(timeout=float(wu["run_duration"]) + grace)
        except subprocess.TimeoutExpired:
            overran = True
            stop(process, kill_after)
    elapsed = time.monotonic() - started
    with open(stderr_path, "rb") as handle:
        handle.seek(max(0, os.path.getsize(stderr_path) - STDERR_TAIL_BYTES))
        tail = handle.read().decode("utf-8", "replace")
    return process.returncode, elapsed, overran, tail


def read_envelope(workdir):
    path = os.path.join(workdir, RESULT_FILE)
    if not os.path.isfile(path):
        raise TaskError("no-result", f"the script wrote no {RESULT_FILE}")
    if os.path.getsize(path) > MAX_RESULT_BYTES:
        raise TaskError("invalid-result", f"{RESULT_FILE} is larger than {MAX_RESULT_BYTES} bytes")
    with open(path, "rb") as handle:
        text = handle.read().decode("utf-8", "replace")
    try:
        envelope = json.loads(text, parse_constant=reject_constant)
    except ValueError as error:
        raise TaskError("invalid-result", f"{RESULT_FILE} is not valid JSON: {error}") from error
    if not isinstance(envelope, dict):
        raise TaskError("invalid-result", f"{RESULT_FILE} must hold a JSON object")
    return envelope


def reject_constant(name):
    raise ValueError(f"{name} is not a number JSON allows; report finite numbers only")


def run_task(wu, workdir, options):
    report = {"client_version": CLIENT_VERSION, "wu_name": wu.get("wu_name"), "experiment": wu["experiment"],
              "status": "failed", "exit_code": None, "elapsed_seconds": 0.0, "budget_seconds": wu["run_duration"],
              "message": "", "stderr_tail": "", "envelope": None}
    try:
        script = fetch_script(wu, workdir, options.allow_file_urls)
        # Echoed so the project can check the result came from the script it sent.
        report["script_sha256"] = wu["script_sha256"].lower()
        code, elapsed, overran, tail = run_script(script, wu, workdir, options.grace, options.kill_after)
        report.update(exit_code=code, elapsed_seconds=round(elapsed, 3), stderr_tail=tail)
        if overran:
            raise TaskError("overran", f"the script ran past its {wu['run_duration']} s budget and was stopped")
        if code != 0:
            raise TaskError("failed", f"the script exited with status {code}")
        report["envelope"] = read_envelope(workdir)
        report.update(status="ok", message="the script finished and wrote its result")
    except TaskError as error:
        report.update(status=error.status, message=str(error))
    return report


def write_atomically(path, data):
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Run one Axiom Lab workunit like a volunteer host.")
    parser.add_argument("--wu", default="wu.json", help="workunit input (default: wu.json)")
    parser.add_argument("--out", default="axiom_result.json", help="result file to upload (default: axiom_result.json)")
    parser.add_argument("--workdir", default=".", help="directory the script runs in (default: the current one)")
    parser.add_argument("--grace", type=float, default=2.0, help="seconds past run_duration before the script is stopped")
    parser.add_argument("--kill-after", type=float, default=3.0, help="seconds between terminate and kill")
    parser.add_argument("--allow-file-urls", action="store_true", help="accept file:// script URLs (local runs and tests)")
    options = parser.parse_args(argv)
    try:
        wu = read_workunit(options.wu)
    except (OSError, ValueError) as error:
        print(f"axiom_client: cannot read the workunit: {error}", file=sys.stderr)
        return 2
    workdir = os.path.abspath(options.workdir)
    os.makedirs(workdir, exist_ok=True)
    report = run_task(wu, workdir, options)
    write_atomically(options.out, report)
    print(f"axiom_client: {report['status']}: {report['message']}", file=sys.stderr)
    return 0 if report["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
