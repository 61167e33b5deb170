#!/usr/bin/env python3
"""Axiom Lab reference volunteer client: runs one workunit the way a volunteer host does.

A BOINC wrapper (or a bundled Python runtime with numpy) executes this in the task's slot
directory. It reads the workunit input (wu.json), downloads the experiment script over https
with certificate verification, refuses it unless its sha256 matches the workunit, runs it in the
sandbox (axiom_sandbox.py: bubblewrap on Linux, limits only elsewhere) with the contract's
environment, a hard time limit and a cap on the memory of the whole run (the workunit's memory_gb),
and writes the result file that BOINC uploads, saying which isolation the run had. A failed script is
a failed task: the exit status is non-zero, never a silent success.

Whatever the script leaves behind is hostile ground: the run directory (--workdir) is emptied before
every start without following anything in it, and every file read there or in the sandbox's working
directory is opened through a directory descriptor, never through a link, only if it is a regular
file, with a size bound.

Usage: axiom_client.py [--wu wu.json] [--out axiom_result.json] [--workdir run] [--keep] [--nthreads N]
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

import sys

# The slot and the working directory are the script's ground: nothing is imported from them. Started as
# `python axiom_client.py` (BOINC's wrapper with a system Python), sys.path[0] is the slot: it goes
# before the first import that is not already loaded, and the client starts again isolated (-I: no
# PYTHONPATH, no user site, no directory of its own on sys.path). A frozen runtime (PyInstaller) keeps
# only its own bundle on sys.path.
if __name__ == "__main__" and not sys.flags.isolated:
    if sys.path and not getattr(sys.flags, "safe_path", False):
        del sys.path[0]
    import os

    if getattr(sys, "frozen", False):
        _bundle = getattr(sys, "_MEIPASS", None)
        sys.path[:] = [p for p in sys.path if _bundle and p and os.path.abspath(p).startswith(os.path.abspath(_bundle))]
    elif sys.executable:
        os.execv(sys.executable, [sys.executable, "-I", "-B", os.path.abspath(__file__), *sys.argv[1:]])

import argparse  # noqa: E402
import ctypes  # noqa: E402
import errno  # noqa: E402
import hashlib  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import ssl  # noqa: E402
import stat  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.parse  # noqa: E402
import urllib.request  # noqa: E402

CLIENT_VERSION = "1.1.0"
RESULT_FILE = "experiment_result.json"
MAX_SCRIPT_BYTES = 1024 * 1024
MAX_RESULT_BYTES = 4 * 1024 * 1024
# The uploaded report: the output template's <max_nbytes> (scripts/boinc/templates/axiom_out).
MAX_REPORT_BYTES = 4 * 1024 * 1024
MAX_WORKUNIT_BYTES = 256 * 1024
# Nesting of the result file beyond this is refused: the envelope is two levels deep.
MAX_JSON_DEPTH = 32
STDERR_TAIL_BYTES = 4000
# A failed task's report in stderr: BOINC keeps the last 64 KiB of it; ours stays far below.
STDERR_REPORT_BYTES = 1500
REPORT_PREFIX = "axiom-report: "
# Environment variables passed through to the script besides the contract's own (PATH is set, never
# passed: it names the volunteer's directories).
PASSTHROUGH = ("LANG", "LC_ALL", "SYSTEMROOT", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
SCRIPT_PATH = "/usr/bin:/bin"
# Thread pools of the numerical libraries, sized to the granted cores.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # nothing written beside the client, in the app's directory or a checkout


def _load_sandbox():
    """axiom_sandbox.py from beside this file, by its path: no directory goes on sys.path."""
    spec = importlib.util.spec_from_file_location("axiom_sandbox", os.path.join(HERE, "axiom_sandbox.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["axiom_sandbox"] = module
    spec.loader.exec_module(module)
    return module


axiom_sandbox = sys.modules.get("axiom_sandbox") or _load_sandbox()

# Beyond what the workunit asks: the interpreter and numpy take about this much address space.
INTERPRETER_BYTES = 512 * 1024 * 1024
FILE_BYTES = 256 * 1024 * 1024
# What the script may keep in its working directory (a tmpfs in the sandbox): bytes and files.
DISK_BYTES = 512 * 1024 * 1024
MAX_FILES = 10_000
# What --keep copies out of the sandbox at most: enough to look at a run, never a disk's worth.
KEEP_FILES = 1000
KEEP_BYTES = 64 * 1024 * 1024
OPEN_FILES = 1024
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
    wu = json.loads(read_path(path, MAX_WORKUNIT_BYTES, "wu.json").decode("utf-8"), object_pairs_hook=_refuse_duplicate_keys)
    validate(wu, load_schema(), load_schema())
    return wu


def _refuse_duplicate_keys(pairs):
    keys = [key for key, _ in pairs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise SchemaError(f"wu.json: duplicate key {duplicates[0]!r}")
    return dict(pairs)


# -- the slot and the working directory are hostile ground -------------------------------------------
# Whatever a script left there may be a link, a FIFO, a device, huge or deeply nested. The client opens
# nothing there by path: every file relative to a directory descriptor it holds, never following a
# link, only if it is a regular file with no other name, and reads it with a size bound.

_AT = os.open in os.supports_dir_fd and os.name == "posix"
_READ_FLAGS = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
               | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
_CREATE_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
                 | getattr(os, "O_BINARY", 0))
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
# Removing a tree holds a descriptor per level; a directory deeper than this is moved up first.
MAX_OPEN_DEPTH = 24
_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))


def _at(directory, name):
    """Arguments for an os call on `name` in `directory`: a descriptor where the platform has *at calls,
    else (Windows, no links to follow for an unprivileged script) a path."""
    return (name, {"dir_fd": directory}) if _AT else (os.path.join(directory, name), {})


def _kind(mode):
    return next((what for test, what in _KINDS if test(mode)), "not a regular file")


def open_regular(directory, name, limit, what=None):
    """A descriptor of `name` in `directory`, refused (TaskError invalid-result) unless it is a regular
    file with one link and at most `limit` bytes; FileNotFoundError if there is none."""
    what = what or name
    path, at = _at(directory, name)
    try:
        fd = os.open(path, _READ_FLAGS, **at)
    except OSError as error:
        if error.errno == errno.ENOENT:
            raise FileNotFoundError(what) from error
        reason = "a symbolic link" if error.errno == errno.ELOOP else f"unreadable ({error.strerror})"
        raise TaskError("invalid-result", f"{what} is {reason}; only a regular file is read") from error
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise TaskError("invalid-result", f"{what} is {_kind(info.st_mode)}; only a regular file is read")
        if info.st_nlink != 1:
            raise TaskError("invalid-result", f"{what} has {info.st_nlink} links; only a file with one name is read")
        if info.st_size > limit:
            raise TaskError("invalid-result", f"{what} is larger than {limit} bytes")
        return fd
    except BaseException:
        os.close(fd)
        raise


def _chunks(fd, limit, what):
    """The bytes of an open file in chunks, failing past `limit` (a file may grow after fstat)."""
    left = limit + 1
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return
        left -= len(chunk)
        if left <= 0:
            raise TaskError("invalid-result", f"{what} is larger than {limit} bytes")
        yield chunk


def read_regular(directory, name, limit, what=None):
    """The bytes of `name` in `directory`, with the checks of open_regular."""
    fd = open_regular(directory, name, limit, what)
    try:
        return b"".join(_chunks(fd, limit, what or name))
    finally:
        os.close(fd)


def create_file(directory, name, data, mode=0o644, sync=True):
    """Writes a new file `name` in `directory` from bytes or an iterable of them: refuses to reuse or
    follow anything already there."""
    path, at = _at(directory, name)
    fd = os.open(path, _CREATE_FLAGS, mode, **at)
    try:
        for piece in [data] if isinstance(data, (bytes, bytearray)) else data:
            view = memoryview(piece)
            while view:
                view = view[os.write(fd, view):]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def open_directory(path):
    """A descriptor of the directory at `path` (its parent is the client's own); where a link or a file
    stands instead, it is removed and a directory made. On Windows the path itself."""
    path = os.path.abspath(path)
    if not _AT:
        os.makedirs(path, exist_ok=True)
        return path
    parent, name = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    parent_fd = os.open(parent, _DIR_FLAGS & ~getattr(os, "O_NOFOLLOW", 0))
    try:
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENOTDIR):
                os.unlink(name, dir_fd=parent_fd)
            elif error.errno != errno.ENOENT:
                raise
        os.mkdir(name, 0o755, dir_fd=parent_fd)
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    finally:
        os.close(parent_fd)


def empty_directory(top):
    """Removes everything in the directory `top` (a descriptor) without following anything: links are
    unlinked, never entered; no recursion, at most MAX_OPEN_DEPTH descriptors open (a deeper directory
    is moved up to `top` first and removed from there)."""
    if not _AT:
        import shutil

        for entry in os.scandir(top):
            (shutil.rmtree if entry.is_dir(follow_symlinks=False) else os.unlink)(entry.path)
        return
    stack, moved = [(top, None)], 0
    while stack:
        current, name = stack[-1]
        below = None
        with os.scandir(current) as entries:
            for entry in entries:
                if not entry.is_dir(follow_symlinks=False):
                    os.unlink(entry.name, dir_fd=current)
                elif len(stack) > MAX_OPEN_DEPTH:
                    moved += 1
                    os.rename(entry.name, f".axiom-deep-{moved}", src_dir_fd=current, dst_dir_fd=top)
                else:
                    below = entry.name
                    break
        if below is not None:
            stack.append((_enter(current, below), below))
            continue
        stack.pop()
        if stack:
            os.close(current)
            os.rmdir(name, dir_fd=stack[-1][0])


def _enter(parent, name):
    """Opens the directory `name` in `parent` (never through a link), making it searchable if the script
    took that away: the mode is changed on the directory held open, never through a name."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except PermissionError:
        held = os.open(name, _DIR_FLAGS | getattr(os, "O_PATH", 0), dir_fd=parent)
        try:
            os.chmod(f"/proc/self/fd/{held}", 0o700)  # an O_PATH descriptor of a directory: its own mode
            return os.open(f"/proc/self/fd/{held}", _DIR_FLAGS & ~getattr(os, "O_NOFOLLOW", 0))
        finally:
            os.close(held)


# What --keep looks at at most: entries (files and directories) and levels.
KEEP_ENTRIES = 4 * KEEP_FILES


def copy_out(source, target, max_files=KEEP_FILES, max_bytes=KEEP_BYTES, max_depth=MAX_OPEN_DEPTH,
             max_entries=KEEP_ENTRIES):
    """Copies the regular files under `source` (the script's working directory) into `target` (the
    emptied run directory), so that they can be looked at after the run: links, FIFOs and devices are
    left behind, and so is what is past `max_files` files, `max_bytes` bytes, `max_entries` entries or
    `max_depth` levels. Depth first, two descriptors per level held: at most 2 * max_depth open. Runs
    only once nothing of the script runs. Returns what was left behind."""
    skipped, budget = [], {"files": max_files, "bytes": max_bytes, "entries": max_entries}
    stack = [(os.dup(source), os.dup(target), "", None)]
    try:
        while stack:
            src, dst, where, names = stack[-1]
            if names is None:
                names = sorted(os.listdir(src))[: budget["entries"] + 1]
                stack[-1] = (src, dst, where, names)
            if not names:
                os.close(src)
                os.close(dst)
                stack.pop()
                continue
            name = names.pop(0)
            label = f"{where}{name}"
            budget["entries"] -= 1
            if budget["entries"] < 0:
                skipped.append(f"{label} (and the rest: more than {max_entries} entries)")
                names.clear()
                for level in stack:
                    level[3].clear()
                continue
            below = _copy_entry(src, dst, name, label, budget, skipped, len(stack) < max_depth)
            if below:
                stack.append((*below, f"{label}/", None))
    finally:
        for src, dst, _, _ in stack:
            os.close(src)
            os.close(dst)
    return skipped


def _copy_entry(src, dst, name, label, budget, skipped, descend):
    """Copies one entry of copy_out: a regular file within the budget; a directory is made in `dst` and
    its two descriptors returned. Anything else, or any error, is left behind and named in `skipped`."""
    try:
        info = os.stat(name, dir_fd=src, follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            if not descend:
                skipped.append(f"{label}/ (deeper than the levels kept)")
                return None
            inner = _enter(src, name)
            try:
                os.mkdir(name, 0o755, dir_fd=dst)
                return inner, os.open(name, _DIR_FLAGS, dir_fd=dst)
            except BaseException:
                os.close(inner)
                raise
        if budget["files"] <= 0:
            raise OSError("too many files")
        fd = open_regular(src, name, budget["bytes"], label)
        try:
            budget["bytes"] -= os.fstat(fd).st_size
            create_file(dst, name, _chunks(fd, FILE_BYTES, label), sync=False)
            budget["files"] -= 1
        finally:
            os.close(fd)
    except (TaskError, OSError):
        skipped.append(label)
    return None


def json_depth(value):
    """How deeply `value` nests (a number or string is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children)
    return deepest


def parse_json(data, what, limit_depth=MAX_JSON_DEPTH):
    """A JSON document from hostile bytes: valid UTF-8 JSON, finite numbers, at most `limit_depth` deep."""
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=reject_constant, parse_float=_finite_float,
                           parse_int=_finite_int)
    except RecursionError as error:
        raise TaskError("invalid-result", f"{what} nests deeper than {limit_depth} levels") from error
    except (ValueError, UnicodeDecodeError) as error:
        raise TaskError("invalid-result", f"{what} is not valid JSON: {error}") from error
    if json_depth(value) > limit_depth:
        raise TaskError("invalid-result", f"{what} nests deeper than {limit_depth} levels")
    return value


def reject_constant(name):
    raise ValueError(f"{name} is not a number JSON allows; report finite numbers only")


def _finite_float(text):
    """A number that stays finite (1e999 would become Infinity, which no JSON reader takes back)."""
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text[:40]} is beyond a double's range; report finite numbers only")
    return value


def _finite_int(text):
    if len(text.lstrip("-")) > 308:
        raise ValueError(f"{text[:40]}... is beyond a double's range; report finite numbers only")
    return int(text)


def read_path(path, limit, what):
    """A file the client was given by path (wu.json): its directory is the client's, the file itself
    is opened as hostile ground."""
    directory = open_directory_of(path)
    try:
        return read_regular(directory, os.path.basename(path), limit, what)
    finally:
        if _AT:
            os.close(directory)


def open_directory_of(path):
    parent = os.path.dirname(os.path.abspath(path))
    return os.open(parent, _DIR_FLAGS & ~getattr(os, "O_NOFOLLOW", 0)) if _AT else parent


def write_report(path, data):
    """Writes the report atomically: a new file beside it, then renamed over whatever stands there (a
    rename replaces a link; it never writes through one)."""
    directory = open_directory_of(path)
    name = os.path.basename(path)
    temporary = f".{name}.{os.getpid()}.{time.monotonic_ns()}.tmp"
    try:
        create_file(directory, temporary, json.dumps(data).encode("utf-8"))
        if _AT:
            os.replace(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
        else:
            os.replace(os.path.join(directory, temporary), os.path.join(directory, name))
    finally:
        if _AT:
            os.close(directory)


class StderrTail(threading.Thread):
    """Reads the script's stdout and stderr from a pipe the client made, keeping the last `keep` bytes:
    nothing of it is a file the script could replace, and it never fills a disk."""

    def __init__(self, fd, keep=STDERR_TAIL_BYTES):
        super().__init__(daemon=True)
        self.fd, self.keep, self.data = fd, keep, bytearray()

    def run(self):
        try:
            while True:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    break
                self.data += chunk
                del self.data[:-self.keep]
        except OSError:
            pass
        finally:
            os.close(self.fd)

    def text(self, wait=2.0):
        self.join(wait)
        return bytes(self.data).decode("utf-8", "replace")


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


def fetch_script(wu, allow_file_urls):
    """The script's file name and bytes, once its sha256 matches the workunit's."""
    body = download(wu["script_url"], allow_file_urls)
    if len(body) > MAX_SCRIPT_BYTES:
        raise TaskError("rejected-script", f"the script is larger than {MAX_SCRIPT_BYTES} bytes")
    digest = hashlib.sha256(body).hexdigest()
    if digest != wu["script_sha256"].lower():
        raise TaskError("rejected-script", f"script sha256 {digest} does not match the workunit's {wu['script_sha256']}")
    return f"{wu['experiment']}.py", body


def usable_cores():
    """Cores this process may run on (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def granted_cores(wu, nthreads):
    """The workunit's cores, but never more than BOINC granted (--nthreads) or this machine has."""
    return max(1, min(int(wu["cpus"]), int(nthreads) if nthreads else usable_cores(), usable_cores()))


def claim_cores(count):
    """The cores the script is pinned to: `count` of this process's, preferring cores no other run of this
    user holds (a lock file per core in a directory of the user's own); with the lock descriptors to hold
    for the run. None where the platform cannot pin."""
    if not hasattr(os, "sched_getaffinity"):
        return None, []
    usable = sorted(os.sched_getaffinity(0))
    if count >= len(usable):
        return usable, []
    import fcntl
    import tempfile

    held, taken = [], []
    try:
        directory = os.path.join(tempfile.gettempdir(), f"axiom-cores-{os.getuid()}")
        os.makedirs(directory, mode=0o700, exist_ok=True)
        info = os.lstat(directory)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            raise OSError(f"{directory} is not this user's directory")
        for core in usable:
            if len(taken) == count:
                break
            fd = os.open(os.path.join(directory, f"core-{core}"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held.append(fd)
                taken.append(core)
            except OSError:
                os.close(fd)
    except OSError:
        pass
    # Every core taken by other runs: share the first ones rather than run unpinned on all.
    taken += [core for core in usable if core not in taken][: count - len(taken)]
    return sorted(taken), held


def script_environment(wu, cpus):
    """The contract's variables, the numerical libraries' thread counts, and nothing of the host."""
    env = {name: os.environ[name] for name in PASSTHROUGH if name in os.environ}
    env.update({name: str(int(cpus)) for name in THREAD_VARIABLES})
    env.update({
        "AXIOM_RUN_DURATION": str(wu["run_duration"]),
        "AXIOM_SEED": str(wu["seed"]),
        "AXIOM_PARAMS": json.dumps(wu["params"]),
        "AXIOM_WU_NAME": str(wu.get("wu_name", "")),
        "AXIOM_CPUS": str(int(cpus)),
        "PATH": SCRIPT_PATH,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
    })
    return env


def memory_limit_bytes(wu):
    """What the whole run may hold: the workunit's memory_gb (its rsc_memory_bound in BOINC), resident
    memory and the run's tmpfs together."""
    return int(float(wu["memory_gb"]) * 2**30)


def limits_of(wu, cpus):
    """The resource limits of a run: what the workunit asks for, with room for the interpreter."""
    return {
        "memory_bytes": int(float(wu["memory_gb"]) * 2**30) + INTERPRETER_BYTES,
        "processes": 64 + 8 * int(cpus),
        "file_bytes": FILE_BYTES,
        "open_files": OPEN_FILES,
        "cpu_seconds": int((float(wu["run_duration"]) + 60) * 2 * max(1, int(cpus))),
    }


def tmpfs_sizes(wu):
    """The sandbox's writable tmpfs mounts: the working directory (the disk cap) and /dev/shm."""
    return {"work_bytes": DISK_BYTES, "shm_bytes": memory_limit_bytes(wu)}


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


def tree_memory_bytes(buffers=True):
    """The resident memory of every process below this one, summed as the BOINC client counts a task's
    (lib/procinfo_unix.cpp: VmRSS of the task and all its descendants), and with `buffers` what their
    sockets and pipes may hold in the kernel; None where there is no /proc."""
    if not os.path.isdir("/proc/self"):
        return None
    total, buffered = 0, {}
    for pid in _descendants():
        total += _resident_bytes(pid)
        if buffers:
            _buffers_of(pid, buffered)
    return total + sum(buffered.values())


def _resident_bytes(pid):
    """VmRSS of process `pid`. A process whose first thread has ended (the raw exit call) shows no
    memory in its own status while its other threads hold it: then the first live thread's status."""
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for place in [f"/proc/{pid}/status"] + [f"/proc/{pid}/task/{tid}/status" for tid in threads if tid != str(pid)]:
        try:
            with open(place, encoding="ascii", errors="replace") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            continue
    return 0


def _kernel_limit(path, fallback):
    try:
        with open(path, encoding="ascii") as handle:
            return int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return fallback


# What one socket or pipe may hold in kernel memory that no resident set shows: a socket its send
# buffer (SO_SNDBUF doubles the value asked for, up to net.core.wmem_max); a pipe its default 16
# pages. A pipe made larger (F_SETPIPE_SZ) counts against the user's fs.pipe-user-pages-soft (64 MiB
# by default) in the kernel, which then gives every further pipe one page.
SOCKET_BYTES = 2 * _kernel_limit("/proc/sys/net/core/wmem_max", 212992)
PIPE_BYTES = 16 * 4096


def _buffers_of(pid, buffered):
    """Adds the sockets and pipes process `pid` holds open to `buffered` (inode -> bytes it may hold),
    each counted once however many processes share it."""
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return
    for name in names:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if target.startswith("socket:"):
            buffered[target] = SOCKET_BYTES
        elif target.startswith("pipe:"):
            buffered[target] = PIPE_BYTES


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


def sandbox_plan(script, wu, run_dir, run_fd, cpus, cores, require_sandbox, blas_dir=None):
    """How the script runs here. Without the sandbox it is written into the emptied run directory and
    runs there; in the sandbox it is copied into the sandbox's own working directory."""
    env = script_environment(wu, cpus)
    if blas_dir:
        env["LD_LIBRARY_PATH"] = blas_dir  # the BLAS the operator chose, from a root-owned system directory
    plan = axiom_sandbox.plan(run_dir, script, env, limits_of(wu, cpus), tmpfs_sizes(wu), cores)
    if plan.isolation != "sandbox":
        if require_sandbox:
            raise TaskError("sandbox-unavailable", f"this host requires the sandbox to run a script, and {plan.reason}")
        create_file(run_fd, script[0], script[1])
        # The script's own tmp, there before anything starts (a frozen runtime unpacks itself into it).
        path, at = _at(run_fd, "tmp")
        os.mkdir(path, 0o755, **at)
        if plan.as_nobody:
            axiom_sandbox.hand_over(run_dir)
    return plan


def start(plan, run_dir):
    """Starts the planned command with stdout and stderr on a pipe the client made; returns the process
    and the reader of that pipe's tail."""
    read_end, write_end = os.pipe()
    try:
        process = subprocess.Popen(
            plan.argv, cwd=run_dir if plan.isolation != "sandbox" else "/", env=plan.env, stdin=subprocess.DEVNULL,
            stdout=write_end, stderr=write_end, start_new_session=(os.name == "posix"), pass_fds=plan.fds,
            preexec_fn=plan.preexec if os.name == "posix" else None,
        )
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
        plan.started()
    tail = StderrTail(read_end)
    tail.start()
    return process, tail


def watch(process, wu, grace, kill_after, workspace, started):
    """Waits for the run under its hard limits: run_duration + grace seconds; the workunit's memory_gb for
    the resident memory of every process of the run and what its tmpfs mounts hold, together; MAX_FILES
    files there. Checked every MEMORY_POLL_SECONDS, and once more when the run has ended (what it left in
    its last instant). Returns what stopped it (None, "time", "memory" or "files") and the peak memory
    seen (None if the run ended before the first sample)."""
    limit = memory_limit_bytes(wu)
    deadline = started + float(wu["run_duration"]) + grace
    peak = None
    while True:
        try:
            process.wait(timeout=max(0.0, min(MEMORY_POLL_SECONDS, deadline - time.monotonic())))
            ended = True
        except subprocess.TimeoutExpired:
            ended = False
        stored, files = workspace.usage()
        if ended:
            # What the script left in its last instant, counted once more now that nothing runs.
            peak = max(peak, stored) if peak is not None else peak
            return ("files" if files > MAX_FILES else "memory" if max(peak or 0, stored) > limit else None), peak
        resident = tree_memory_bytes()
        if resident is not None or stored:
            peak = max(peak or 0, (resident or 0) + stored)
        stopped = ("files" if files > MAX_FILES else "memory" if peak is not None and peak > limit
                   else "time" if time.monotonic() >= deadline else None)
        if stopped:
            stop(process, kill_after)
            return stopped, peak


def run_script(wu, grace, kill_after, plan, run_dir, run_fd):
    """Runs the script (see watch for the limits) and, whatever happens, leaves nothing of it running.
    Returns its exit code, elapsed seconds, what stopped it, the tail of its output, the peak memory and
    the Workspace that holds its working directory (None if the sandbox never came up)."""
    job = _WindowsJob(limits_of(wu, 1)["memory_bytes"]) if os.name == "nt" else None
    if plan.isolation != "sandbox":
        _become_subreaper()
    started = time.monotonic()
    process, tail = start(plan, run_dir)
    if job:
        job.add(process)
    workspace, stopped, peak = None, None, None
    try:
        workspace = plan.attach(process, run_fd)
        stopped, peak = watch(process, wu, grace, kill_after, workspace, started)
    except axiom_sandbox.SandboxFailed:
        stopped = "sandbox"
    finally:
        # Whatever the script left behind goes with it: the sandbox's PID namespace ends with its first
        # process, which is killed here and waited for; elsewhere the process group, the adopted orphans
        # and the job object are killed.
        if workspace is not None and not workspace.end():
            stopped = "left-running"
        if os.name == "posix":
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            _kill_descendants()
        process.wait()
        if job:
            job.close()
    return {"code": process.returncode, "elapsed": time.monotonic() - started, "stopped": stopped,
            "tail": tail.text(), "peak_memory_bytes": peak, "workspace": workspace}


def read_envelope(directory):
    """The script's result, read as hostile ground: a regular file, bounded in size and depth."""
    try:
        data = read_regular(directory, RESULT_FILE, MAX_RESULT_BYTES)
    except FileNotFoundError as error:
        raise TaskError("no-result", f"the script wrote no {RESULT_FILE}") from error
    envelope = parse_json(data, RESULT_FILE)
    if not isinstance(envelope, dict):
        raise TaskError("invalid-result", f"{RESULT_FILE} must hold a JSON object")
    return envelope


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


STOPPED = {
    "time": ("overran", "the script ran past its {run_duration} s budget and was stopped"),
    "memory": ("memory-exceeded", "the run held more than the workunit's {memory_gb} GB of memory (the resident memory "
               "of its processes, what their sockets and pipes may hold, and what its tmpfs mounts hold, together: "
               "{peak_memory_mb} MB) and was stopped"),
    "files": ("disk-exceeded", f"the script kept more than {MAX_FILES} files in its working directory and /dev/shm "
              "and was stopped"),
    "sandbox": ("failed", "the sandbox ended before the script started"),
    "left-running": ("failed", "the sandbox's processes could not be stopped"),
}


def run_task(wu, run_dir, run_fd, options):
    report = {"client_version": CLIENT_VERSION, "wu_name": wu.get("wu_name"), "experiment": wu["experiment"],
              "status": "failed", "exit_code": None, "elapsed_seconds": 0.0, "budget_seconds": wu["run_duration"],
              "message": "", "stderr_tail": "", "envelope": None}
    locks = []
    try:
        script = fetch_script(wu, options.allow_file_urls)
        # Echoed so the project can check the result came from the script it sent.
        report["script_sha256"] = wu["script_sha256"].lower()
        cpus = granted_cores(wu, options.nthreads)
        cores, locks = claim_cores(cpus)
        report["cpus"] = cpus
        plan = sandbox_plan(script, wu, run_dir, run_fd, cpus, cores, options.require_sandbox,
                            getattr(options, "blas_dir", None))
        report["isolation"] = plan.isolation
        if plan.reason:
            report["isolation_note"] = plan.reason
        report["run_as"] = "nobody" if plan.as_nobody else "the client's user"
        run = run_script(wu, options.grace, options.kill_after, plan, run_dir, run_fd)
        try:
            finish(report, run, wu)
        finally:
            keep(run, run_fd, plan, options.keep, report)
    except TaskError as error:
        report.update(status=error.status, message=str(error))
    finally:
        for fd in locks:
            os.close(fd)
    return report


def finish(report, run, wu):
    """The report of a run that ended: why it failed, or its envelope."""
    report.update(exit_code=run["code"], elapsed_seconds=round(run["elapsed"], 3), stderr_tail=run["tail"])
    if run["peak_memory_bytes"] is not None:
        report["peak_memory_mb"] = round(run["peak_memory_bytes"] / 2**20, 1)
    if run["stopped"]:
        status, message = STOPPED[run["stopped"]]
        raise TaskError(status, message.format(peak_memory_mb=report.get("peak_memory_mb"), **wu))
    if run["code"] != 0:
        raise TaskError("failed", f"the script exited with status {run['code']}")
    report["envelope"] = read_envelope(run["workspace"].fd)
    report["environment"] = run_environment()
    report.update(status="ok", message="the script finished and wrote its result")


def keep(run, run_fd, plan, wanted, report):
    """With --keep, the sandbox's working directory is copied into the run directory (regular files
    only), once nothing of the script runs; what could not be copied is named in the report, never an
    error of the task. Then the client lets go of it."""
    workspace = run["workspace"]
    if workspace is None:
        return
    try:
        if wanted and plan.isolation == "sandbox" and _AT and run["stopped"] != "left-running":
            skipped = copy_out(workspace.fd, run_fd)
            if skipped:
                report["not_kept"] = skipped[:20]
    except OSError as error:
        report["not_kept"] = [f"the copy stopped: {error.strerror or error}"]
    finally:
        workspace.close()


def fit_upload(report):
    """The report as BOINC will upload it: at most MAX_REPORT_BYTES once written (the envelope is
    re-encoded, and escapes can make it several times its size), else a failed task saying so."""
    size = len(json.dumps(report).encode("utf-8"))
    if size <= MAX_REPORT_BYTES:
        return report
    return {**report, "envelope": None, "environment": None, "status": "invalid-result",
            "message": f"the result takes {size} bytes once reported; the uploaded file holds at most {MAX_REPORT_BYTES}"}


def prepare_run_directory(path, own):
    """The run directory, emptied without following anything in it (before every start: a restart in
    the same slot finds what the last start's script left). Refuses the client's own directories."""
    real = os.path.realpath(path)
    for place in own:
        mine = os.path.realpath(place)
        if mine == real or mine.startswith(real.rstrip(os.sep) + os.sep):
            raise ValueError(f"--workdir {path} would hold {place}; give a directory of its own (e.g. run)")
    directory = open_directory(path)
    empty_directory(directory)
    return directory


def main(argv=None):
    parser = argparse.ArgumentParser(description="Run one Axiom Lab workunit like a volunteer host.")
    parser.add_argument("--wu", default="wu.json", help="workunit input (default: wu.json)")
    parser.add_argument("--out", default="axiom_result.json", help="result file to upload (default: axiom_result.json)")
    parser.add_argument("--workdir", default="run",
                        help="the client's run directory, emptied before every start (default: run)")
    parser.add_argument("--keep", action="store_true",
                        help="after the run, copy the files the script left into the run directory")
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
    except (OSError, ValueError, TaskError) as error:
        print(f"axiom_client: cannot read the workunit: {error}", file=sys.stderr)
        return 2
    try:
        run_fd = prepare_run_directory(options.workdir, [os.getcwd(), HERE, options.wu, options.out])
    except (OSError, ValueError) as error:
        print(f"axiom_client: cannot prepare the run directory: {error}", file=sys.stderr)
        return 2
    report = fit_upload(run_task(wu, os.path.abspath(options.workdir), run_fd, options))
    if _AT:
        os.close(run_fd)
    write_report(options.out, report)
    print(f"axiom_client: {report['status']}: {report['message']}", file=sys.stderr)
    if report["status"] != "ok":
        # A failed task uploads no file, but BOINC sends the task's stderr to the project
        # (result.stderr_out): the report goes there, on one line, last, without an envelope.
        short = {**report, "envelope": None, "stderr_tail": report["stderr_tail"][-STDERR_REPORT_BYTES:]}
        print(f"{REPORT_PREFIX}{json.dumps(short)}", file=sys.stderr)
    return 0 if report["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
