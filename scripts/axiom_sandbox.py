#!/usr/bin/env python3
"""Axiom Lab's sandbox for experiment scripts: the wall between a script and the volunteer's computer.

The reference client (axiom_client.py) runs every experiment script through `plan()`:

* On Linux with bubblewrap (Debian/Ubuntu package `bubblewrap`, the sandbox Flatpak uses) the script
  runs in its own user, mount, PID, network, IPC, UTS and cgroup namespaces: no network at all (a
  network namespace with only a loopback device), a read-only root that holds only what Python and
  numpy need, a working directory that is a size-capped tmpfs of its own (nothing of the host is
  writable, so whatever the script writes is counted as the memory it is and vanishes with the run),
  a size-capped /dev/shm, no other process visible (so no /proc/<pid>/environ of a parent), no boot
  id or kernel command line, an environment of the contract variables only, no further user
  namespaces, and the whole sandbox killed when the script's main process ends or the client dies.
  A client started as root runs the sandbox as nobody: root is exempt from the process limit. That
  is `isolation: sandbox`.
* Everywhere else (Windows, macOS, Linux without bubblewrap or without unprivileged user namespaces)
  the script gets what the platform offers: its own session and process group (a Windows job object
  that kills every child when the task ends and caps memory), the contract environment only, and on
  Linux a child subreaper so that nothing it started survives it. Its working directory is then the
  client's run directory. That is `isolation: limits-only`, and the client can be told to refuse it
  (--require-sandbox, or AXIOM_REQUIRE_SANDBOX=1).

In both, the script itself starts inside `python axiom_sandbox.py run SCRIPT` (stage two, below):
resource limits (address space from the workunit's memory_gb, processes, file size, open files, CPU
time, no core files), then on Linux a seccomp filter that refuses execve/execveat and the kernel
interfaces no numpy script needs (DENIED_SYSCALLS, sockets, shared anonymous memory, a non-dumpable
process, a wider affinity mask), so that nothing but this interpreter, already running, can be
executed; then the script, as __main__. In the sandbox stage two forks first and stays as the PID
namespace's first process: whatever ends it ends every process of the sandbox.
Standard library only.
"""

# Stage two runs before every script: it imports only what it needs (stage one imports the rest).
import ctypes
import json
import os
import sys

# Where things appear inside the sandbox.
WORK = "/axiom/work"
LIB = "/axiom/lib"

# The kernel interfaces a numpy script never needs, refused with EPERM. Numbers per architecture from
# the kernel's syscall tables (arch/x86/entry/syscalls/syscall_64.tbl; include/uapi/asm-generic/unistd.h
# for arm64); docs/security.md says why each group is refused.
_DENIED = {
    # name: (x86_64, aarch64); None where the architecture has no such call
    # running anything but this interpreter
    "execve": (59, 221), "execveat": (322, 281),
    # reaching other processes
    "ptrace": (101, 117), "process_vm_readv": (310, 270), "process_vm_writev": (311, 271),
    "kcmp": (312, 272), "pidfd_getfd": (438, 438), "process_madvise": (440, 440),
    # kernel attack surface with no use in numerical code
    "bpf": (321, 280), "perf_event_open": (298, 241), "userfaultfd": (323, 282),
    "io_uring_setup": (425, 425), "io_uring_enter": (426, 426), "io_uring_register": (427, 427),
    "io_setup": (206, 0), "io_destroy": (207, 1), "io_submit": (209, 2), "io_cancel": (210, 3),
    "io_getevents": (208, 4), "io_pgetevents": (333, 292),
    "keyctl": (250, 219), "add_key": (248, 217), "request_key": (249, 218),
    "modify_ldt": (154, None), "iopl": (172, None), "ioperm": (173, None), "uselib": (134, None),
    "_sysctl": (156, None), "sysfs": (139, None), "nfsservctl": (180, 42), "lookup_dcookie": (212, 18),
    "syslog": (103, 116), "vhangup": (153, 58), "acct": (163, 89), "quotactl": (179, 60), "quotactl_fd": (443, 443),
    # memory the sandbox could not count: memfd, SysV shared memory, semaphores and queues, POSIX queues
    "memfd_create": (319, 279), "memfd_secret": (447, 447),
    "shmget": (29, 194), "shmat": (30, 196), "shmctl": (31, 195), "shmdt": (67, 197),
    "semget": (64, 190), "semop": (65, 193), "semctl": (66, 191), "semtimedop": (220, 192),
    "msgget": (68, 186), "msgsnd": (69, 189), "msgrcv": (70, 188), "msgctl": (71, 187),
    "mq_open": (240, 180), "mq_unlink": (241, 181), "mq_timedsend": (242, 182), "mq_timedreceive": (243, 183),
    "mq_notify": (244, 184), "mq_getsetattr": (245, 185),
    # files outside the sandbox's view, mounts, namespaces, the machine itself
    "open_by_handle_at": (304, 265), "name_to_handle_at": (303, 264), "fanotify_init": (300, 262),
    "mount": (165, 40), "umount2": (166, 39), "pivot_root": (155, 41), "chroot": (161, 51),
    "open_tree": (428, 428), "move_mount": (429, 429), "fsopen": (430, 430), "fsconfig": (431, 431),
    "fsmount": (432, 432), "fspick": (433, 433), "mount_setattr": (442, 442),
    "setns": (308, 268), "unshare": (272, 97),
    "kexec_load": (246, 104), "kexec_file_load": (320, 294), "init_module": (175, 105),
    "finit_module": (313, 273), "delete_module": (176, 106), "swapon": (167, 224), "swapoff": (168, 225),
    "reboot": (169, 142), "sethostname": (170, 161), "setdomainname": (171, 162),
    "settimeofday": (164, 170), "clock_settime": (227, 112), "clock_adjtime": (305, 266), "adjtimex": (159, 171),
    # the cores the client granted: the script may not widen its affinity mask
    "sched_setaffinity": (203, 122),
}
MACHINES = ("x86_64", "aarch64")
DENIED_SYSCALLS = {machine: {name: numbers[i] for name, numbers in _DENIED.items() if numbers[i] is not None}
                   for i, machine in enumerate(MACHINES)}
# socket() and socketpair() are refused for every address family (EAFNOSUPPORT): a socket's buffers,
# its messages in flight (SCM_RIGHTS) and a listen backlog hold kernel memory no resident set shows,
# and vsock is not namespaced (it reaches the hypervisor's host from any network namespace).
# multiprocessing's pools, queues and locks use pipes and /dev/shm, not sockets.
SOCKET_SYSCALLS = {"x86_64": (41, 53), "aarch64": (198, 199)}
# Refused by their arguments: mmap with MAP_SHARED|MAP_ANONYMOUS (shared memory no tmpfs counts, and
# dropped from the resident set by madvise), prctl(PR_SET_DUMPABLE) (a process the client may not
# look into).
MMAP_SYSCALL = {"x86_64": 9, "aarch64": 222}
PRCTL_SYSCALL = {"x86_64": 157, "aarch64": 167}
MAP_SHARED_ANONYMOUS = 0x01 | 0x20
PR_SET_DUMPABLE = 4
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
X32_SYSCALL_BIT = 0x40000000
EPERM, EAFNOSUPPORT = 1, 97


# A client started as root runs scripts as nobody: root is exempt from the process limit (the kernel
# never counts processes against uid 0), and nobody owns nothing on the host.
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


def demote():
    """Part of the preexec of a script run by root: nobody's uid and gid, no supplementary groups."""
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def hand_over(directory):
    """Makes a run directory nobody's when a script runs there as nobody without the sandbox."""
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
    """What the interpreter needs to start and import numpy, and nothing else of the host: the standard
    library, numpy's own directory, and the directories of the shared libraries a Python with numpy has
    loaded (with the dynamic loader's cache and the links it follows). The client runs isolated (-I), so
    no PYTHONPATH entry, user site or directory of its own is among them."""
    import sysconfig

    roots = {"/etc/ld.so.cache", "/etc/alternatives", "/lib", "/lib64", "/lib32", "/usr/lib64", "/usr/lib32"}
    for key in ("stdlib", "platstdlib"):
        roots.add(sysconfig.get_path(key))
    try:
        import numpy  # noqa: F401  (its own directory, wherever it is installed, and the libraries it loads)

        package = os.path.dirname(numpy.__file__)
        roots.update({package, f"{package}.libs", os.path.join(os.path.dirname(package), "numpy.libs")})
    except ImportError:
        pass
    for name in ("_ctypes", "_json", "_multiprocessing", "_posixshmem", "_queue", "select"):
        try:
            __import__(name)  # what scripts and their workers load: its library goes in too
        except ImportError:
            pass

    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                fields = line.split(None, 5)
                path = fields[5].strip() if len(fields) == 6 else ""
                if path.startswith("/") and ".so" in os.path.basename(path) and not path.endswith(" (deleted)"):
                    roots.add(os.path.dirname(path))
    except OSError:
        roots.update({"/usr/lib", sys.prefix + "/lib"})  # no /proc: the libraries' usual places
    present = sorted(r for r in roots if r and os.path.lexists(r))
    # A directory inside another root is there already (one mount fewer per run).
    return [r for r in present if not any(r.startswith(other.rstrip("/") + "/") and not os.path.islink(other)
                                           for other in present if other != r)]


def _data_fd(data):
    """A descriptor bubblewrap reads `data` from (--file, --ro-bind-data), at any size."""
    fd = os.memfd_create("axiom", 0) if hasattr(os, "memfd_create") else None
    if fd is None:
        import tempfile

        handle = tempfile.TemporaryFile()
        fd = os.dup(handle.fileno())
        handle.close()
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


class _Binds:
    """Bind mounts through descriptors opened here, so that bubblewrap, even when it runs as nobody,
    needs no permission on the host path: `--ro-bind-fd FD DEST` for every source."""

    def __init__(self):
        self.args, self.fds = [], []

    def add(self, source, dest):
        fd = os.open(source, os.O_PATH | os.O_CLOEXEC)
        self.fds.append(fd)
        self.args += ["--ro-bind-fd", str(fd), dest]

    def data(self, option, data, dest, perms="0444"):
        fd = _data_fd(data)
        self.fds.append(fd)
        self.args += ["--perms", perms, option, str(fd), dest]

    def roots(self, roots):
        for root in roots:
            if os.path.islink(root) and os.path.dirname(root) == "/":
                self.args += ["--symlink", os.readlink(root), root]  # merged /usr: /lib -> usr/lib
            else:
                self.add(root, root)

    def interpreter(self):
        """The interpreter binary, where interpreter_inside() says. At RUNTIME it is a copy bubblewrap
        makes from a descriptor (a bind mount would name its host path in /proc/self/mountinfo)."""
        real, inside = os.path.realpath(sys.executable), interpreter_inside()
        if inside == RUNTIME:
            fd = os.open(real, os.O_RDONLY | os.O_CLOEXEC)
            self.fds.append(fd)
            self.args += ["--perms", "0555", "--ro-bind-data", str(fd), inside]
            return
        self.add(real, real)
        if sys.executable != real:
            self.args += ["--symlink", real, sys.executable]

    def close(self):
        for fd in self.fds:
            os.close(fd)
        self.fds = []


# Where a runtime that does not look for its library beside itself appears inside.
RUNTIME = "/axiom/bin/python3"


def interpreter_inside():
    """The interpreter's path inside the sandbox. A frozen runtime (the app's, unpacked into TMPDIR) or an
    interpreter outside its own prefix (a copy in BOINC's project directory that finds its library by
    its built-in prefix) is bound at RUNTIME: its host path, e.g. BOINC's data directory, is not shown
    through sys.executable, /proc/self/exe or the mount table. An interpreter that finds its library
    relative to itself (/usr/bin/python3 with /usr/lib/python3.x) stays where it is; its library then
    shows where it is installed, which for a system Python says nothing of the host."""
    real = os.path.realpath(sys.executable)
    if getattr(sys, "frozen", False) or os.path.dirname(os.path.dirname(real)) != os.path.realpath(sys.base_prefix):
        return RUNTIME
    return sys.executable


_OPTIONS = {}


def _supports(bwrap, option):
    import subprocess

    if (bwrap, option) not in _OPTIONS:
        shown = subprocess.run([bwrap, "--help"], capture_output=True, text=True, check=False)
        _OPTIONS[(bwrap, option)] = option in shown.stdout + shown.stderr
    return _OPTIONS[(bwrap, option)]


# What the script would learn of the host from /proc and has no use for: masked with these contents.
MASKED = {"/proc/cmdline": b"\n", "/proc/sys/kernel/random/boot_id": b"00000000-0000-0000-0000-000000000000\n"}


def bwrap_command(bwrap, env, inner, sizes, files=()):
    """The bubblewrap command line that runs `inner` (paths as seen inside) in the sandbox, and the
    descriptors it must inherit (close them once it has started). `sizes` caps the working directory's
    and /dev/shm's tmpfs in bytes; `files` are (name, bytes) copied into the working directory first."""
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
    with open(os.path.abspath(__file__), "rb") as handle:
        binds.data("--ro-bind-data", handle.read(), f"{LIB}/axiom_sandbox.py")
    binds.args += ["--proc", "/proc"]
    for path, text in MASKED.items():
        binds.data("--ro-bind-data", text, path)
    binds.args += ["--dev", "/dev", "--size", str(int(sizes["shm_bytes"])), "--tmpfs", "/dev/shm",
                   "--size", str(int(sizes["work_bytes"])), "--perms", "0700", "--tmpfs", WORK]
    # A shared mapping of /dev/zero is shared anonymous memory (which seccomp refuses to mmap): /dev/zero
    # is /dev/null inside.
    binds.add("/dev/null", "/dev/zero")
    for name, data in files:
        binds.data("--file", data, f"{WORK}/{name}", perms="0600")
    # Read-only from here: the root bubblewrap built and /dev; the two tmpfs mounts stay writable.
    binds.args += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", WORK]
    return args + binds.args + ["--"] + inner, binds


def probe(bwrap, as_nobody):
    """Whether bubblewrap can make the sandbox here (user namespaces allowed): None, or the reason not."""
    import subprocess

    # TMPDIR: a frozen runtime (PyInstaller) unpacks itself there before Python starts.
    argv, binds = bwrap_command(bwrap, {"TMPDIR": WORK}, [interpreter_inside(), "-I", "-B", "-c", "pass"],
                                {"work_bytes": 256 * 2**20, "shm_bytes": 2**20})
    try:
        ran = subprocess.run(
            argv, capture_output=True, text=True, timeout=60, check=False, env={}, pass_fds=binds.fds,
            preexec_fn=demote if as_nobody else None,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bubblewrap could not be started: {error}"
    finally:
        binds.close()
    if ran.returncode != 0:
        last = (ran.stderr.strip().splitlines() or ["no message"])[-1]
        return f"bubblewrap cannot make a sandbox here ({last})"
    return None


class Workspace:
    """The script's working directory as the client holds it: a directory descriptor (on the sandbox's
    tmpfs, kept alive by the descriptor after the sandbox ends, or the run directory), and what the
    run's writable tmpfs mounts hold (bytes and files, as the kernel counts them)."""

    def __init__(self, fd, counted=(), init=None):
        self.fd, self.counted, self.init = fd, list(counted), init

    def end(self, timeout=10.0):
        """Kills the sandbox's first process through its pidfd (the kernel then kills every process of
        its PID namespace, whatever they did to their parent-death signal or session) and waits until it
        has exited, which happens only once the namespace is empty. True once nothing of the script runs
        (always without the sandbox: the client kills that tree itself)."""
        if self.init is None:
            return True
        import select
        import signal

        try:
            signal.pidfd_send_signal(self.init, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return bool(select.select([self.init], [], [], timeout)[0])

    def usage(self):
        """(bytes, files) in the writable tmpfs mounts of the run; (0, 0) without the sandbox."""
        used, files = 0, 0
        for fd in self.counted:
            stats = os.fstatvfs(fd)
            used += (stats.f_blocks - stats.f_bfree) * stats.f_frsize
            files += stats.f_files - stats.f_ffree
        return used, files

    def close(self):
        for fd in {self.fd, *self.counted, self.init}:
            if isinstance(fd, int):
                os.close(fd)
        self.counted, self.init = [], None


class SandboxFailed(Exception):
    """The sandbox ended before the script started."""


class Plan:
    """How a script will run: the command, its environment, the descriptors it inherits, the
    isolation it gets, and why not more."""

    def __init__(self, argv, env, isolation, reason=None, binds=None, as_nobody=False, cores=None, handshake=None):
        self.argv, self.env, self.isolation, self.reason = argv, env, isolation, reason
        self.binds, self.as_nobody, self.cores, self.handshake = binds, as_nobody, cores, handshake

    def preexec(self):
        """Runs in the child before bubblewrap or the script: the granted cores, then nobody if root."""
        if self.cores and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, self.cores)
        if self.as_nobody:
            demote()

    @property
    def fds(self):
        inherited = list(self.binds.fds) if self.binds else []
        if self.handshake:
            inherited += [self.handshake["ready"][1], self.handshake["ack"][0]]
        return tuple(inherited)

    def started(self):
        """The command has started and holds its own copies of the descriptors."""
        if self.binds:
            self.binds.close()
        if self.handshake:
            os.close(self.handshake["ready"][1])
            os.close(self.handshake["ack"][0])

    def attach(self, process, run_fd, timeout=60.0):
        """The Workspace of a started run. In the sandbox: waits until stage two says the sandbox is
        up, opens its working directory and /dev/shm through /proc/<pid>/root before the script runs,
        and lets it go on. Raises SandboxFailed if the sandbox ended first."""
        if not self.handshake:
            return Workspace(os.dup(run_fd) if isinstance(run_fd, int) else run_fd)
        import select

        ready, ack = self.handshake["ready"][0], self.handshake["ack"][1]
        try:
            if not select.select([ready], [], [], timeout)[0] or os.read(ready, 1) != b"r":
                raise SandboxFailed("the sandbox did not start")
            inside = _sandbox_init(process.pid)
            init = os.pidfd_open(inside)
            flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
            workspace = Workspace(os.open(f"/proc/{inside}/root{WORK}", flags), (), init)
            workspace.counted = [workspace.fd, os.open(f"/proc/{inside}/root/dev/shm", flags)]
            os.write(ack, b"a")
            return workspace
        except OSError as error:
            raise SandboxFailed(f"the sandbox ended before the script started ({error})") from error
        finally:
            os.close(ready)
            os.close(ack)


def _sandbox_init(bwrap_pid):
    """The host pid of the sandbox's first process: bubblewrap's only child."""
    with open(f"/proc/{bwrap_pid}/task/{bwrap_pid}/children", encoding="ascii") as handle:
        children = handle.read().split()
    if len(children) != 1:
        raise OSError(f"bubblewrap has {len(children)} children, not 1")
    return int(children[0])


def plan(run_dir, script, env, limits, sizes, cores=None):
    """The way to run `script` ((name, bytes)) with `limits` that gives the most isolation here. In the
    sandbox its working directory is a tmpfs of `sizes['work_bytes']`; without, `run_dir` (a path, where
    the caller has put the script)."""
    stage = ["run", "--limits", json.dumps(limits)]
    name, text = script
    as_nobody = running_as_root()
    reason = None
    if sys.platform.startswith("linux"):
        bwrap = find_bwrap()
        reason = probe(bwrap, as_nobody) if bwrap else "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
        if reason is None:
            ready, ack = os.pipe(), os.pipe()
            inside = {**env, "HOME": WORK, "TMPDIR": f"{WORK}/tmp"}
            inner = [interpreter_inside(), "-I", "-B", f"{LIB}/axiom_sandbox.py", *stage,
                     "--handshake", str(ready[1]), str(ack[0]), f"{WORK}/{name}"]
            argv, binds = bwrap_command(bwrap, inside, inner, sizes, files=[(name, text)])
            return Plan(argv, {}, "sandbox", binds=binds, as_nobody=as_nobody, cores=cores,
                        handshake={"ready": ready, "ack": ack})
    else:
        reason = f"no sandbox on {sys.platform}; a job object or process group and limits only"
    as_nobody = as_nobody and _reachable_by_others(run_dir)
    if running_as_root() and not as_nobody:
        reason += "; run as root and nobody cannot reach the run directory: the process limit is not enforced"
    outside = {**env, "HOME": run_dir, "TMPDIR": os.path.join(run_dir, "tmp")}
    argv = [sys.executable, "-I", "-B", os.path.abspath(__file__), *stage, os.path.join(run_dir, name)]
    return Plan(argv, outside, "limits-only", reason, as_nobody=as_nobody, cores=cores)


# -- stage two: inside, before the script ---------------------------------------------------------


def apply_limits(limits):
    """Resource limits of the run (POSIX): address space, processes, file size, open files, CPU time,
    no core files."""
    try:
        import resource
    except ImportError:
        return []
    applied = []
    wanted = {
        "RLIMIT_AS": int(limits["memory_bytes"]),
        "RLIMIT_NPROC": int(limits["processes"]),
        "RLIMIT_FSIZE": int(limits["file_bytes"]),
        "RLIMIT_NOFILE": int(limits.get("open_files", 1024)),
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
    """The BPF program: wrong architecture -> kill; x32 calls and the denied syscalls -> EPERM; socket and
    socketpair -> EAFNOSUPPORT; mmap of shared anonymous memory and prctl(PR_SET_DUMPABLE) -> EPERM; else
    allow. Jumps are written to labels and resolved here."""
    ld_abs, jeq, jge, ret, and_k = 0x20, 0x15, 0x35, 0x06, 0x54
    allow, kill = 0x7FFF0000, 0x80000000
    errno = 0x00050000
    # struct seccomp_data: nr, arch, instruction pointer, then args[6]; the low half of each (little-endian)
    nr_offset, arch_offset = 0, 4
    arg_offset = lambda index: 16 + 8 * index  # noqa: E731
    code = [(ld_abs, None, None, arch_offset), (jeq, 1, 0, AUDIT_ARCH[machine]), (ret, 0, 0, kill),
            (ld_abs, None, None, nr_offset)]
    if machine == "x86_64":
        code.append((jge, "deny", None, X32_SYSCALL_BIT))
    for number in sorted(set(DENIED_SYSCALLS[machine].values())):
        code.append((jeq, "deny", None, number))
    for number in SOCKET_SYSCALLS[machine]:
        code.append((jeq, "socket", None, number))
    code += [(jeq, "mmap", None, MMAP_SYSCALL[machine]), (jeq, "prctl", None, PRCTL_SYSCALL[machine]),
             (ret, None, None, allow)]
    labels = {"mmap": len(code)}
    code += [(ld_abs, None, None, arg_offset(3)), (and_k, None, None, MAP_SHARED_ANONYMOUS),
             (jeq, "deny", "allow", MAP_SHARED_ANONYMOUS)]
    labels["prctl"] = len(code)
    code += [(ld_abs, None, None, arg_offset(0)), (jeq, "deny", "allow", PR_SET_DUMPABLE)]
    labels["socket"] = len(code)
    code.append((ret, None, None, errno | EAFNOSUPPORT))
    labels["allow"] = len(code)
    code.append((ret, None, None, allow))
    labels["deny"] = len(code)
    code.append((ret, None, None, errno | EPERM))
    program = []
    for index, (op, jt, jf, k) in enumerate(code):
        resolve = (lambda to: labels[to] - index - 1 if isinstance(to, str) else (to or 0))  # noqa: B023
        program.append((op, resolve(jt), resolve(jf), k))
    if any(not 0 <= jt <= 255 or not 0 <= jf <= 255 for _, jt, jf, _ in program):
        raise ValueError("a seccomp jump is out of range")
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


def _handshake(ready, ack):
    """Tells the client the sandbox is up, and waits until it holds the working directory."""
    os.write(ready, b"r")
    os.close(ready)
    answer = os.read(ack, 1)
    os.close(ack)
    if answer != b"a":
        raise SystemExit(125)


def _supervise():
    """In the sandbox, stage two is the PID namespace's first process: it stays there, out of the
    script's reach, and the script runs in a child. The first process keeps the parent-death signal
    bubblewrap gave it (the script cannot clear another process's) and is not dumpable (the script
    cannot write its memory through /proc); when it ends, for whatever reason, the kernel kills every
    process of the namespace. Returns in the child; the first process exits with the script's status."""
    import signal

    child = os.fork()
    if child == 0:
        return
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # the first process ignores what the script sends it
    ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    code = os.waitstatus_to_exitcode(status)
    os._exit(code if code >= 0 else 128 - code)


def stage_two(argv):
    """`axiom_sandbox.py run --limits JSON [--handshake READY ACK] SCRIPT`: the handshake with the client,
    limits, the exec filter, then the script as __main__."""
    usage = "usage: axiom_sandbox.py run --limits JSON [--handshake READY ACK] SCRIPT"
    if len(argv) not in (4, 7) or argv[0] != "run" or argv[1] != "--limits" or (len(argv) == 7 and argv[3] != "--handshake"):
        print(usage, file=sys.stderr)
        return 2
    limits, script = json.loads(argv[2]), argv[-1]
    if len(argv) == 7:
        _handshake(int(argv[4]), int(argv[5]))
    if os.getpid() == 1:
        _supervise()
    os.makedirs(os.environ.get("TMPDIR") or "tmp", exist_ok=True)
    applied = apply_limits(limits)
    filtered = apply_seccomp()
    os.environ["AXIOM_ISOLATION_LAYERS"] = ",".join(applied + (["seccomp"] if filtered else []))
    sys.argv = [script]
    if sys.path and sys.path[0] == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]  # this module's directory; a script is one self-contained file and imports nothing beside it
    import runpy

    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(stage_two(sys.argv[1:]))
