#!/usr/bin/env python3
"""Axiom Lab reference volunteer client: runs one workunit the way a volunteer host does.

A BOINC wrapper (or a bundled Python runtime with numpy) executes this in the task's slot
directory. It reads the workunit input (wu.json), downloads the experiment script over https
with certificate verification, refuses it unless its sha256 matches the workunit, runs it in the
sandbox (axiom_sandbox.py: bubblewrap on Linux, limits only elsewhere) with the contract's
environment, a hard time limit and a cap on the resident memory of all its processes together
(the workunit's memory_gb), and writes the result file that BOINC uploads, saying which
isolation the run had. A failed script is a failed task: the exit status is non-zero, never a
silent success.

Usage: axiom_client.py [--wu wu.json] [--out axiom_result.json] [--workdir DIR] [--nthreads N]
                       [--grace SECONDS] [--kill-after SECONDS] [--allow-file-urls]
                       [--require-sandbox]

--require-sandbox (or AXIOM_REQUIRE_SANDBOX=1 in the environment, a host's own setting) refuses to
run a script without the sandbox: the task fails with status sandbox-unavailable.

wu.json is validated against workunit.schema.json (beside this file, or ../schemas/ in a
checkout of Axiom Lab), the schema the project writes it with.

Exit status: 0 the script ran and wrote a result; 1 the task failed (see the result file's
status); 2 usage or an unreadable workunit.
Standard library only. Environment: SSL_CERT_FILE / SSL_CERT_DIR choose trusted certificates.
"""

import argparse
import ctypes
import hashlib
import json
import os
import platform
import re
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
# A failed task's report in stderr: BOINC keeps the last 64 KiB of it; ours stays far below.
STDERR_REPORT_BYTES = 1500
REPORT_PREFIX = "axiom-report: "
# Environment variables passed through to the script besides the contract's own.
PASSTHROUGH = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # nothing written beside the client, in the app's directory or a checkout
sys.path.insert(0, HERE)
import axiom_sandbox  # noqa: E402  (beside this file in the app and in a checkout)

# Beyond what the workunit asks: the interpreter and numpy take about this much address space.
INTERPRETER_BYTES = 512 * 1024 * 1024
FILE_BYTES = 256 * 1024 * 1024
# How often the run's resident memory is summed: a spike shorter than this can go unseen.
MEMORY_POLL_SECONDS = 0.25
SCHEMA_PLACES = (os.path.join(HERE, "workunit.schema.json"), os.path.join(HERE, "..", "schemas", "workunit.schema.json"))


class TaskError(Exception):
    """The task cannot succeed; `status` says why."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class SchemaError(ValueError):
    """wu.json does not match its schema; the message says where and what was expected."""


def _is_type(value, kind):
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return not isinstance(value, bool) and (isinstance(value, int) or (isinstance(value, float) and value.is_integer()))
    if kind == "number":
        return not isinstance(value, bool) and isinstance(value, (int, float))
    raise SchemaError(f"the schema uses type {kind!r}, which this client does not know")


# The JSON Schema keywords workunit.schema.json uses. Any other keyword is refused, so that a newer
# schema can never be read more loosely than it was written.
_ANNOTATIONS = {"$schema", "$id", "title", "description", "$defs"}


def _ecma_end(pattern):
    """JSON Schema patterns are ECMAScript: a final `$` matches only at the very end (Python's also before a newline)."""
    return re.sub(r"(?<!\\)\$$", r"\\Z", pattern)


def validate(value, schema, root, where="wu.json"):
    """Checks `value` against the subset of JSON Schema (2020-12) the workunit schema uses."""
    unknown = set(schema) - _ANNOTATIONS - {
        "$ref", "type", "const", "enum", "pattern", "maxLength", "minimum", "maximum", "exclusiveMinimum",
        "properties", "required", "additionalProperties", "propertyNames", "anyOf", "items", "maxItems"}
    if unknown:
        raise SchemaError(f"the schema uses {sorted(unknown)}, which this client does not check")
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return validate(value, root["$defs"][name], root, where)
    kinds = schema.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if not any(_is_type(value, k) for k in kinds):
            raise SchemaError(f"{where}: must be {' or '.join(kinds)}, found {type(value).__name__}")
    if "const" in schema and value != schema["const"]:
        raise SchemaError(f"{where}: must be {schema['const']!r}, found {value!r}")
    if "enum" in schema and value not in schema["enum"]:
        raise SchemaError(f"{where}: must be one of {schema['enum']!r}, found {value!r}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(_ecma_end(schema["pattern"]), value):
            raise SchemaError(f"{where}: must match {schema['pattern']}, found {value[:80]!r}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise SchemaError(f"{where}: must be at most {schema['maxLength']} characters")
    if _is_type(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            raise SchemaError(f"{where}: must be >= {schema['minimum']}, found {value}")
        if "maximum" in schema and value > schema["maximum"]:
            raise SchemaError(f"{where}: must be <= {schema['maximum']}, found {value}")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            raise SchemaError(f"{where}: must be > {schema['exclusiveMinimum']}, found {value}")
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise SchemaError(f"{where}: must have at most {schema['maxItems']} items")
        for index, item in enumerate(value):
            if "items" in schema:
                validate(item, schema["items"], root, f"{where}[{index}]")
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                raise SchemaError(f"{where}: missing required key {name!r}")
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if "propertyNames" in schema:
                validate(key, schema["propertyNames"], root, f"{where} key {key!r}")
            if key in properties:
                validate(item, properties[key], root, f"{where}.{key}")
            elif extra is False:
                raise SchemaError(f"{where}: unknown key {key!r}; allowed keys: {', '.join(properties)}")
            elif isinstance(extra, dict):
                validate(item, extra, root, f"{where}.{key}")
    if "anyOf" in schema:
        failures = []
        for branch in schema["anyOf"]:
            try:
                validate(value, branch, root, where)
                break
            except SchemaError as error:
                failures.append(str(error))
        else:
            raise SchemaError(f"{where}: matches none of the allowed forms ({'; '.join(failures)})")


def load_schema():
    for path in SCHEMA_PLACES:
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                return json.load(handle)
    raise OSError(f"workunit.schema.json not found (looked in {', '.join(SCHEMA_PLACES)})")


def read_workunit(path):
    with open(path, encoding="utf-8") as handle:
        wu = json.load(handle, object_pairs_hook=_refuse_duplicate_keys)
    validate(wu, load_schema(), load_schema())
    return wu


def _refuse_duplicate_keys(pairs):
    keys = [key for key, _ in pairs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise SchemaError(f"wu.json: duplicate key {duplicates[0]!r}")
    return dict(pairs)


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


def usable_cores():
    """Cores this process may run on (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def granted_cores(wu, nthreads):
    """The workunit's cores, but never more than BOINC granted (--nthreads) or this machine has."""
    return max(1, min(int(wu["cpus"]), int(nthreads) if nthreads else usable_cores(), usable_cores()))


def script_environment(wu, workdir, cpus):
    env = {name: os.environ[name] for name in PASSTHROUGH if name in os.environ}
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


def memory_limit_bytes(wu):
    """The resident memory the whole run may hold: the workunit's memory_gb (its rsc_memory_bound in BOINC)."""
    return int(float(wu["memory_gb"]) * 2**30)


def limits_of(wu, cpus):
    """The resource limits of a run: what the workunit asks for, with room for the interpreter."""
    return {
        "memory_bytes": int(float(wu["memory_gb"]) * 2**30) + INTERPRETER_BYTES,
        "processes": 64 + 8 * int(cpus),
        "file_bytes": FILE_BYTES,
        "cpu_seconds": int((float(wu["run_duration"]) + 60) * 2 * max(1, int(cpus))),
    }


def _become_subreaper():
    """Linux: orphans of the script become our children, so that none outlives the task."""
    if sys.platform.startswith("linux"):
        pr_set_child_subreaper = 36
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_child_subreaper, 1, 0, 0, 0)


def _children_of(pid):
    """The children of a process, from each of its threads' /proc children list (a thread forks too)."""
    found = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as handle:
                found.extend(int(child) for child in handle.read().split())
        except (OSError, ValueError):
            continue
    return found


def _parents_map():
    """Every process's children, from each one's parent in /proc/<pid>/stat: for kernels without the
    /proc children lists."""
    children = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return children
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as handle:
                # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'.
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(name))
    return children


def _descendants():
    """Linux: every process below this one (the sandbox's and the script's). Walks the tree through the
    /proc children lists where the kernel has them, so the cost is the tree's, not the machine's; else
    through every process's parent."""
    if os.path.exists(f"/proc/self/task/{os.getpid()}/children"):
        children_of = _children_of
    else:
        children_of = _parents_map().get
    found, frontier = [], [os.getpid()]
    while frontier:
        below = children_of(frontier.pop()) or []
        found.extend(below)
        frontier.extend(below)
    return found


def tree_memory_bytes():
    """The resident memory of every process below this one, summed as the BOINC client counts a task's
    (lib/procinfo_unix.cpp: VmRSS of the task and all its descendants); None where there is no /proc."""
    if not os.path.isdir("/proc/self"):
        return None
    total = 0
    for pid in _descendants():
        try:
            with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, ValueError, IndexError):
            continue
    return total


def _kill_descendants():
    """Kills every process that is still ours (the subreaper's adopted orphans) and reaps it."""
    for _ in range(50):
        left = _children_of(os.getpid())
        if not left:
            return
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in left:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


class _WindowsJob:
    """A job object that kills every process of the task when it is closed, with a memory cap."""

    def __init__(self, memory_bytes):
        from ctypes import wintypes  # noqa: F401  (Windows only)
        self.kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        self.handle = self.kernel32.CreateJobObjectW(None, None)

        class BasicLimits(ctypes.Structure):
            _fields_ = [("PerProcessUserTimeLimit", ctypes.c_int64), ("PerJobUserTimeLimit", ctypes.c_int64),
                        ("LimitFlags", ctypes.c_uint32), ("MinimumWorkingSetSize", ctypes.c_size_t),
                        ("MaximumWorkingSetSize", ctypes.c_size_t), ("ActiveProcessLimit", ctypes.c_uint32),
                        ("Affinity", ctypes.c_size_t), ("PriorityClass", ctypes.c_uint32),
                        ("SchedulingClass", ctypes.c_uint32)]

        class IoCounters(ctypes.Structure):
            _fields_ = [(name, ctypes.c_uint64) for name in ("ReadOps", "WriteOps", "OtherOps", "ReadBytes",
                                                              "WriteBytes", "OtherBytes")]

        class ExtendedLimits(ctypes.Structure):
            _fields_ = [("BasicLimitInformation", BasicLimits), ("IoInfo", IoCounters),
                        ("ProcessMemoryLimit", ctypes.c_size_t), ("JobMemoryLimit", ctypes.c_size_t),
                        ("PeakProcessMemoryUsed", ctypes.c_size_t), ("PeakJobMemoryUsed", ctypes.c_size_t)]

        limits = ExtendedLimits()
        kill_on_close, job_memory = 0x2000, 0x200
        limits.BasicLimitInformation.LimitFlags = kill_on_close | job_memory
        limits.JobMemoryLimit = memory_bytes
        extended_information = 9
        self.kernel32.SetInformationJobObject(self.handle, extended_information, ctypes.byref(limits),
                                              ctypes.sizeof(limits))

    def add(self, process):
        self.kernel32.AssignProcessToJobObject(self.handle, int(process._handle))

    def close(self):
        self.kernel32.CloseHandle(self.handle)


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


def blas_directory(path):
    """A system BLAS directory numpy should load instead of the default (--blas-dir, for calibration and
    tests only: a command-line choice of whoever runs the client, never something a workunit can ask for).
    It must be an absolute, root-owned directory under /usr/lib or /lib that nobody else may write to."""
    real = os.path.realpath(path)
    if not os.path.isabs(path) or not os.path.isdir(real) or not real.startswith(("/usr/lib/", "/lib/")):
        raise ValueError(f"--blas-dir must be a system library directory under /usr/lib or /lib; found {path!r}")
    info = os.stat(real)
    if info.st_uid != 0 or info.st_mode & 0o022:
        raise ValueError(f"--blas-dir {path!r} must be owned by root and writable by nobody else")
    return real


def sandbox_plan(script, wu, workdir, cpus, require_sandbox, blas_dir=None):
    env = script_environment(wu, workdir, cpus)
    if blas_dir:
        env["LD_LIBRARY_PATH"] = blas_dir  # the BLAS the operator chose, from a root-owned system directory
    plan = axiom_sandbox.plan(workdir, os.path.basename(script), env, limits_of(wu, cpus))
    if plan.isolation != "sandbox" and require_sandbox:
        raise TaskError("sandbox-unavailable", f"this host requires the sandbox to run a script, and {plan.reason}")
    return plan


def run_script(script, wu, workdir, grace, kill_after, plan):
    """Runs the script with the hard limits: run_duration + grace seconds, and the workunit's memory_gb of resident
    memory summed over every process of the run (checked every MEMORY_POLL_SECONDS on Linux; a Windows job object
    caps the whole job's memory). Returns its exit code, elapsed seconds, what stopped it (None, "time" or
    "memory"), the tail of its stderr and the peak resident memory seen (None if the run ended before the first sample)."""
    stderr_path = os.path.join(workdir, "stderr.txt")
    job = _WindowsJob(limits_of(wu, 1)["memory_bytes"]) if os.name == "nt" else None
    if plan.isolation != "sandbox":
        _become_subreaper()
    # The script's own tmp, there before anything starts (a frozen runtime unpacks itself into it).
    os.makedirs(os.path.join(workdir, "tmp"), exist_ok=True)
    if plan.as_nobody:
        axiom_sandbox.hand_over(workdir)
    started = time.monotonic()
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            plan.argv, cwd=workdir, env=plan.env, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr,
            start_new_session=(os.name == "posix"), pass_fds=plan.fds,
            preexec_fn=plan.preexec,
        )
        plan.started()
        if job:
            job.add(process)
        stopped, peak = None, None
        limit = memory_limit_bytes(wu)
        deadline = started + float(wu["run_duration"]) + grace
        try:
            while True:
                try:
                    process.wait(timeout=max(0.0, min(MEMORY_POLL_SECONDS, deadline - time.monotonic())))
                    break
                except subprocess.TimeoutExpired:
                    pass
                used = tree_memory_bytes()
                if used is not None:
                    peak = max(peak or 0, used)
                    if used > limit:
                        stopped = "memory"
                        stop(process, kill_after)
                        break
                if time.monotonic() >= deadline:
                    stopped = "time"
                    stop(process, kill_after)
                    break
        finally:
            # Whatever the script left behind goes with it: the sandbox's PID namespace ends with its first
            # process; elsewhere the process group, the adopted orphans and the job object are killed.
            if os.name == "posix":
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                _kill_descendants()
            if job:
                job.close()
    elapsed = time.monotonic() - started
    with open(stderr_path, "rb") as handle:
        handle.seek(max(0, os.path.getsize(stderr_path) - STDERR_TAIL_BYTES))
        tail = handle.read().decode("utf-8", "replace")
    return {"code": process.returncode, "elapsed": elapsed, "stopped": stopped, "tail": tail,
            "peak_memory_bytes": peak}


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


def cpu_model():
    """The CPU's model name: /proc/cpuinfo on Linux, the platform's own answer elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.split(":", 1)[0].strip() in ("model name", "Model", "cpu model"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_library():
    """The BLAS numpy runs with: the library loaded into this process on Linux (the alternative
    Debian's libblas.so.3 points at, or a wheel's bundled OpenBLAS), else numpy's build information."""
    try:
        import numpy  # noqa: F401  (loads the BLAS numpy was built against)
    except Exception:
        return None
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as handle:
            paths = {line.split()[-1] for line in handle if "/" in line}
        for path in sorted(paths):
            name = os.path.basename(path).lower()
            if any(key in name for key in ("blas", "mkl_rt", "blis", "accelerate")):
                real = os.path.realpath(path)
                return f"{os.path.basename(os.path.dirname(real))}/{os.path.basename(real)}"
    except OSError:
        pass
    try:
        import numpy.__config__ as config
        info = config.get_info("blas_opt") or {}
        return ",".join(info.get("libraries", [])) or None
    except Exception:
        return None


def run_environment():
    """What a run's last digits may depend on beyond seed and params, so that a disagreement between
    same-seed replicas can be explained: Python, numpy, BLAS, CPU, machine and OS."""
    environment = {"python": platform.python_version(), "machine": platform.machine(), "os": platform.system(),
                   "cpu": cpu_model()}
    try:
        from importlib import metadata
        environment["numpy"] = metadata.version("numpy")
    except Exception:
        pass
    blas = blas_library()
    if blas:
        environment["blas"] = blas
    return {key: str(value)[:120] for key, value in environment.items() if value}


def run_task(wu, workdir, options):
    report = {"client_version": CLIENT_VERSION, "wu_name": wu.get("wu_name"), "experiment": wu["experiment"],
              "status": "failed", "exit_code": None, "elapsed_seconds": 0.0, "budget_seconds": wu["run_duration"],
              "message": "", "stderr_tail": "", "envelope": None}
    try:
        script = fetch_script(wu, workdir, options.allow_file_urls)
        # Echoed so the project can check the result came from the script it sent.
        report["script_sha256"] = wu["script_sha256"].lower()
        cpus = granted_cores(wu, options.nthreads)
        report["cpus"] = cpus
        plan = sandbox_plan(script, wu, workdir, cpus, options.require_sandbox, getattr(options, "blas_dir", None))
        report["isolation"] = plan.isolation
        if plan.reason:
            report["isolation_note"] = plan.reason
        report["run_as"] = "nobody" if plan.as_nobody else "the client's user"
        run = run_script(script, wu, workdir, options.grace, options.kill_after, plan)
        report.update(exit_code=run["code"], elapsed_seconds=round(run["elapsed"], 3), stderr_tail=run["tail"])
        if run["peak_memory_bytes"] is not None:
            report["peak_memory_mb"] = round(run["peak_memory_bytes"] / 2**20, 1)
        if run["stopped"] == "time":
            raise TaskError("overran", f"the script ran past its {wu['run_duration']} s budget and was stopped")
        if run["stopped"] == "memory":
            raise TaskError("memory-exceeded", f"the run's processes held more than the workunit's {wu['memory_gb']} GB "
                            f"of resident memory together ({report['peak_memory_mb']} MB) and were stopped")
        if run["code"] != 0:
            raise TaskError("failed", f"the script exited with status {run['code']}")
        report["envelope"] = read_envelope(workdir)
        report["environment"] = run_environment()
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
    parser.add_argument("--nthreads", type=int, default=0, help="cores BOINC grants the task (default: all this process may use)")
    parser.add_argument("--require-sandbox", action="store_true",
                        default=os.environ.get("AXIOM_REQUIRE_SANDBOX", "") not in ("", "0"),
                        help="refuse to run a script without the sandbox (also AXIOM_REQUIRE_SANDBOX=1)")
    parser.add_argument("--blas-dir", default=None,
                        help="for calibration and tests: numpy in the script loads the BLAS in this root-owned system "
                             "directory (e.g. /usr/lib/x86_64-linux-gnu/openblas-pthread); start the client with the same "
                             "LD_LIBRARY_PATH so that its report names that BLAS")
    options = parser.parse_args(argv)
    if options.blas_dir:
        try:
            options.blas_dir = blas_directory(options.blas_dir)
        except (OSError, ValueError) as error:
            print(f"axiom_client: {error}", file=sys.stderr)
            return 2
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
    if report["status"] != "ok":
        # A failed task uploads no file, but BOINC sends the task's stderr to the project
        # (result.stderr_out): the report goes there, on one line, last, without an envelope.
        short = {**report, "envelope": None, "stderr_tail": report["stderr_tail"][-STDERR_REPORT_BYTES:]}
        print(f"{REPORT_PREFIX}{json.dumps(short)}", file=sys.stderr)
    return 0 if report["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
