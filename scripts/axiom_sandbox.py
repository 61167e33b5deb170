#!/usr/bin/env python3
"""Axiom Lab's sandbox for experiment scripts: the wall between a script and the volunteer's computer.

The reference client (axiom_client.py) runs every experiment script through `command()`:

* On Linux with bubblewrap (Debian/Ubuntu package `bubblewrap`, the sandbox Flatpak uses) the script
  runs in its own user, mount, PID, network, IPC, UTS and cgroup namespaces: no network at all (a
  network namespace with only a loopback device), a read-only view of only what Python and numpy
  need, the working directory as the only writable place (with its own tmp inside it), no other
  process visible (so no /proc/<pid>/environ of a parent), an environment of the contract variables
  only, no further user namespaces, and the whole sandbox killed when the script's main process ends
  or the client dies. That is `isolation: sandbox`.
* Everywhere else (Windows, macOS, Linux without bubblewrap or without unprivileged user namespaces)
  the script gets what the platform offers: its own session and process group (a Windows job object
  that kills every child when the task ends and caps memory), the contract environment only, and on
  Linux a child subreaper so that nothing it started survives it. That is `isolation: limits-only`,
  and the client can be told to refuse it (--require-sandbox, or AXIOM_REQUIRE_SANDBOX=1).

In both, the script itself starts inside `python axiom_sandbox.py run SCRIPT` (stage two, below):
resource limits (address space from the workunit's memory_gb, processes, file size, CPU time, no
core files), then on Linux a seccomp filter that refuses execve/execveat and a few kernel interfaces
no experiment needs, so that nothing but this interpreter, already running, can be executed; then
the script, as __main__. Standard library only.
"""

# Stage two runs before every script: it imports only what it needs (stage one imports the rest).
import ctypes
import json
import os
import sys

# Where things appear inside the sandbox.
WORK = "/axiom/work"
LIB = "/axiom/lib"

# The kernel interfaces an experiment never needs; execve/execveat first: nothing else may be run.
# Numbers per architecture from the kernel's syscall tables (arch/x86/entry/syscalls/syscall_64.tbl,
# include/uapi/asm-generic/unistd.h for arm64).
DENIED_SYSCALLS = {
    "x86_64": {
        "execve": 59, "execveat": 322, "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
        "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "keyctl": 250, "add_key": 248,
        "request_key": 249, "kexec_load": 246, "kexec_file_load": 320, "init_module": 175,
        "finit_module": 313, "delete_module": 176, "mount": 165, "umount2": 166, "pivot_root": 155,
        "swapon": 167, "swapoff": 168, "reboot": 169, "setns": 308, "unshare": 272,
    },
    "aarch64": {
        "execve": 221, "execveat": 281, "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271,
        "bpf": 280, "perf_event_open": 241, "userfaultfd": 282, "keyctl": 219, "add_key": 217,
        "request_key": 218, "kexec_load": 104, "kexec_file_load": 294, "init_module": 105,
        "finit_module": 273, "delete_module": 106, "mount": 40, "umount2": 39, "pivot_root": 41,
        "swapon": 224, "swapoff": 225, "reboot": 142, "setns": 268, "unshare": 97,
    },
}
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
X32_SYSCALL_BIT = 0x40000000


# A client started as root runs scripts as nobody: root is exempt from the process limit, and nobody
# owns nothing on the host.
NOBODY = 65534


def running_as_root():
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _reachable_by_others(path):
    """Whether every directory above `path` lets others through (nobody can reach it)."""
    path = os.path.abspath(path)
    while True:
        parent = os.path.dirname(path)
        if parent == path:
            return True
        if not os.stat(parent).st_mode & 0o001:
            return False
        path = parent


def should_demote(workdir):
    """Root demotes to nobody when nobody can reach the working directory (bubblewrap binds by path)."""
    return running_as_root() and _reachable_by_others(workdir)


def demote():
    """preexec_fn of a script run by root: nobody's uid and gid, no supplementary groups."""
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def hand_over(directory):
    """Makes a working directory the script's own when it will run as nobody."""
    if not running_as_root():
        return
    for parent, dirs, files in os.walk(directory):
        os.chown(parent, NOBODY, NOBODY)
        for name in files:
            os.chown(os.path.join(parent, name), NOBODY, NOBODY, follow_symlinks=False)


# -- stage one: the command the client starts ------------------------------------------------------


def find_bwrap():
    """bubblewrap, if installed: AXIOM_BWRAP, else `bwrap` on PATH."""
    import shutil

    explicit = os.environ.get("AXIOM_BWRAP")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("bwrap")


def _read_only_roots():
    """What the interpreter needs to start and import numpy: its files, its libraries, nothing else."""
    roots = {"/usr/lib", "/usr/lib64", "/usr/lib32", "/lib", "/lib64", "/lib32", "/etc/ld.so.cache",
             "/etc/alternatives"}
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        roots.add(os.path.join(prefix, "lib"))
    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sys.path:
        if entry and os.path.isdir(entry) and os.path.abspath(entry) != here:
            roots.add(os.path.abspath(entry))
    try:
        import numpy  # noqa: F401  (its own directory, wherever it is installed)
        roots.add(os.path.dirname(os.path.dirname(numpy.__file__)))
    except ImportError:
        pass
    return sorted(r for r in roots if os.path.lexists(r))


class _Binds:
    """Bind mounts through descriptors opened here, so that bubblewrap, even when it runs as nobody,
    needs no permission on the host path: `--ro-bind-fd FD DEST` for every source."""

    def __init__(self):
        self.args, self.fds = [], []

    def add(self, source, dest, writable=False):
        fd = os.open(source, os.O_PATH | os.O_CLOEXEC)
        self.fds.append(fd)
        self.args += ["--bind-fd" if writable else "--ro-bind-fd", str(fd), dest]

    def roots(self, roots):
        for root in roots:
            if os.path.islink(root) and os.path.dirname(root) == "/":
                self.args += ["--symlink", os.readlink(root), root]  # merged /usr: /lib -> usr/lib
            else:
                self.add(root, root)

    def interpreter(self):
        """The interpreter binary, at its own path and at the path sys.executable names."""
        real = os.path.realpath(sys.executable)
        self.add(real, real)
        if sys.executable != real:
            self.args += ["--symlink", real, sys.executable]

    def close(self):
        for fd in self.fds:
            os.close(fd)
        self.fds = []


_OPTIONS = {}


def _supports(bwrap, option):
    import subprocess

    if (bwrap, option) not in _OPTIONS:
        shown = subprocess.run([bwrap, "--help"], capture_output=True, text=True, check=False)
        _OPTIONS[(bwrap, option)] = option in shown.stdout + shown.stderr
    return _OPTIONS[(bwrap, option)]


def bwrap_command(bwrap, workdir, env, inner):
    """The bubblewrap command line that runs `inner` (paths as seen inside) in the sandbox, and the
    descriptors it must inherit (close them once it has started)."""
    # --as-pid-1: the interpreter is the namespace's first process, so when it ends the kernel kills
    # everything else in the sandbox and bubblewrap returns only after that (and bubblewrap's own
    # command line, with the host paths it binds, is not visible inside).
    args = [bwrap, "--unshare-user", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
            "--unshare-cgroup-try", "--as-pid-1", "--die-with-parent", "--new-session", "--hostname", "axiom"]
    if _supports(bwrap, "--disable-userns"):
        args.append("--disable-userns")
    args += ["--uid", str(NOBODY), "--gid", str(NOBODY), "--clearenv"]
    for name, value in sorted(env.items()):
        args += ["--setenv", name, value]
    binds = _Binds()
    binds.roots(_read_only_roots())
    binds.interpreter()
    # This module's own text, copied in: bubblewrap then needs no access to where it is installed.
    read, write = os.pipe()
    with open(os.path.abspath(__file__), "rb") as handle:
        os.write(write, handle.read())
    os.close(write)
    binds.fds.append(read)
    binds.args += ["--ro-bind-data", str(read), f"{LIB}/axiom_sandbox.py"]
    binds.add(workdir, WORK, writable=True)
    args += binds.args + ["--proc", "/proc", "--dev", "/dev", "--chdir", WORK]
    return args + ["--"] + inner, binds


def probe(bwrap, as_nobody):
    """Whether bubblewrap can make the sandbox here (user namespaces allowed): None, or the reason not."""
    import shutil
    import subprocess
    import tempfile

    scratch = tempfile.mkdtemp(prefix="axiom-probe-")
    if as_nobody:
        hand_over(scratch)
    # TMPDIR: a frozen runtime (PyInstaller) unpacks itself there before Python starts.
    argv, binds = bwrap_command(bwrap, scratch, {"TMPDIR": WORK}, [sys.executable, "-s", "-B", "-c", "pass"])
    try:
        ran = subprocess.run(
            argv, capture_output=True, text=True, timeout=60, check=False, env={}, pass_fds=binds.fds,
            preexec_fn=demote if as_nobody else None,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bubblewrap could not be started: {error}"
    finally:
        binds.close()
        shutil.rmtree(scratch, ignore_errors=True)
    if ran.returncode != 0:
        last = (ran.stderr.strip().splitlines() or ["no message"])[-1]
        return f"bubblewrap cannot make a sandbox here ({last})"
    return None


class Plan:
    """How a script will run: the command, its environment, the descriptors it inherits, the
    isolation it gets, and why not more."""

    def __init__(self, argv, env, isolation, reason=None, binds=None, as_nobody=False):
        self.argv, self.env, self.isolation, self.reason = argv, env, isolation, reason
        self.binds, self.as_nobody = binds, as_nobody

    @property
    def preexec(self):
        return demote if self.as_nobody else None

    @property
    def fds(self):
        return tuple(self.binds.fds) if self.binds else ()

    def started(self):
        """The command has started and holds its own copies of the descriptors."""
        if self.binds:
            self.binds.close()


def plan(workdir, script, env, limits):
    """The way to run `script` (a file name in `workdir`) with `limits` that gives the most isolation here."""
    stage = ["run", "--limits", json.dumps(limits)]
    as_nobody = should_demote(workdir)
    reason = None
    if sys.platform.startswith("linux"):
        bwrap = find_bwrap()
        reason = probe(bwrap, as_nobody) if bwrap else "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
        if reason is None:
            inside = {**env, "HOME": WORK, "TMPDIR": f"{WORK}/tmp"}
            inner = [sys.executable, "-s", "-B", f"{LIB}/axiom_sandbox.py", *stage, f"{WORK}/{script}"]
            argv, binds = bwrap_command(bwrap, workdir, inside, inner)
            note = ("run as root and nobody cannot reach the working directory: the process limit is not "
                    "enforced (root is exempt)") if running_as_root() and not as_nobody else None
            return Plan(argv, {}, "sandbox", reason=note, binds=binds, as_nobody=as_nobody)
    else:
        reason = f"no sandbox on {sys.platform}; a job object or process group and limits only"
    outside = {**env, "HOME": workdir, "TMPDIR": os.path.join(workdir, "tmp")}
    argv = [sys.executable, "-s", "-B", os.path.abspath(__file__), *stage, os.path.join(workdir, script)]
    return Plan(argv, outside, "limits-only", reason, as_nobody=as_nobody)


# -- stage two: inside, before the script ---------------------------------------------------------


def apply_limits(limits):
    """Resource limits of the run (POSIX): address space, processes, file size, CPU time, no core files."""
    try:
        import resource
    except ImportError:
        return []
    applied = []
    wanted = {
        "RLIMIT_AS": int(limits["memory_bytes"]),
        "RLIMIT_NPROC": int(limits["processes"]),
        "RLIMIT_FSIZE": int(limits["file_bytes"]),
        "RLIMIT_CPU": int(limits["cpu_seconds"]),
        "RLIMIT_CORE": 0,
    }
    for name, value in wanted.items():
        which = getattr(resource, name, None)
        if which is None:
            continue
        _, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (value, value))
        applied.append(name)
    return applied


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def seccomp_program(machine):
    """The BPF program: wrong architecture -> kill; x32 calls and the denied syscalls -> EPERM; else allow."""
    numbers = DENIED_SYSCALLS[machine]
    ld_abs, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    allow, errno_eperm, kill = 0x7FFF0000, 0x00050000 | 1, 0x80000000
    denied = sorted(set(numbers.values()))
    program = [(ld_abs, 0, 0, 4), (jeq, 1, 0, AUDIT_ARCH[machine]), (ret, 0, 0, kill), (ld_abs, 0, 0, 0)]
    # From here, instruction i jumps to the EPERM return at the end: len - 1 - (i + 1) ahead.
    tail = len(denied) + (1 if machine == "x86_64" else 0)
    if machine == "x86_64":
        program.append((jge, tail, 0, X32_SYSCALL_BIT))
        tail -= 1
    for number in denied:
        program.append((jeq, tail, 0, number))
        tail -= 1
    program += [(ret, 0, 0, allow), (ret, 0, 0, errno_eperm)]
    return program


def apply_seccomp():
    """Refuses execve/execveat and the other denied syscalls for this process and all it starts (Linux)."""
    machine = os.uname().machine if hasattr(os, "uname") else ""
    if not sys.platform.startswith("linux") or machine not in DENIED_SYSCALLS:
        return False
    program = seccomp_program(machine)
    filters = (_SockFilter * len(program))(*[_SockFilter(*instruction) for instruction in program])
    fprog = _SockFprog(len(program), filters)
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_no_new_privs, pr_set_seccomp, seccomp_mode_filter = 38, 22, 2
    if libc.prctl(pr_set_no_new_privs, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if libc.prctl(pr_set_seccomp, seccomp_mode_filter, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")
    return True


def stage_two(argv):
    """`axiom_sandbox.py run --limits JSON SCRIPT`: limits, the exec filter, then the script as __main__."""
    if len(argv) != 4 or argv[0] != "run" or argv[1] != "--limits":
        print("usage: axiom_sandbox.py run --limits JSON SCRIPT", file=sys.stderr)
        return 2
    limits, script = json.loads(argv[2]), argv[3]
    os.makedirs(os.environ.get("TMPDIR") or "tmp", exist_ok=True)
    applied = apply_limits(limits)
    filtered = apply_seccomp()
    os.environ["AXIOM_ISOLATION_LAYERS"] = ",".join(applied + (["seccomp"] if filtered else []))
    sys.argv = [script]
    del sys.path[0]  # this module's directory; a script is one self-contained file and imports nothing beside it
    import runpy

    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(stage_two(sys.argv[1:]))
