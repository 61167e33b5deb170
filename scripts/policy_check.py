#!/usr/bin/env python3
"""Static policy check for Axiom Lab experiment scripts.

An experiment script may use numpy (CuPy only where its manifest asks for a
GPU), an allow-list of standard-library modules, the cores it is given and
files inside its working directory. It may not reach the network, start
programs, load native code, unpickle, evaluate code, import dynamically, or
reach the interpreter's internals through dunder attributes.

This is a review gate run on every pull request, not a sandbox: it reads the
source with Python's own parser and never imports or runs it. Volunteers'
BOINC clients still run each task in its own slot directory.

Usage:
  policy_check.py FILE...                 check files, CuPy not allowed
  policy_check.py --stdin                 read {"files": [{"path", "allow_cupy"}]}
Output: {"results": [{"path", "findings": [{"line", "col", "rule", "message"}]}]}
Exit status: 0 when the check ran (findings or not), 2 on usage errors.
"""

import ast
import gc
import json
import os
import re
import sys
from concurrent.futures import ProcessPoolExecutor

# Below this many files per worker, one process is faster than starting more.
PARALLEL_FROM = 64

STDLIB_ALLOWED = {
    "__future__", "abc", "array", "atexit", "base64", "binascii", "bisect", "calendar",
    "cmath", "collections", "concurrent", "contextlib", "contextvars", "copy", "csv",
    "dataclasses", "datetime", "decimal", "enum", "errno", "fractions", "functools",
    "graphlib", "hashlib", "heapq", "hmac", "io", "itertools", "json", "math",
    "multiprocessing", "numbers", "operator", "os", "pathlib", "pprint", "queue", "random",
    "re", "secrets", "signal", "statistics", "string", "struct", "sys", "textwrap",
    "threading", "time", "traceback", "tracemalloc", "typing", "unicodedata", "uuid",
    "warnings", "weakref", "zlib",
}

# Modules (and submodules) refused with a specific rule rather than the generic one.
MODULE_RULES = {
    "network": [
        "socket", "ssl", "http", "urllib", "urllib2", "urllib3", "ftplib", "smtplib", "poplib",
        "imaplib", "nntplib", "telnetlib", "xmlrpc", "socketserver", "asyncio", "selectors",
        "select", "requests", "httpx", "aiohttp", "websocket", "websockets", "paramiko",
        "webbrowser", "multiprocessing.connection", "multiprocessing.managers", "numpy.DataSource",
    ],
    "process-spawn": [
        "subprocess", "pty", "pexpect", "sh", "commands", "popen2", "platform", "multiprocessing.popen_fork",
    ],
    "ctypes": ["ctypes", "_ctypes", "cffi", "numpy.ctypeslib", "numpy.f2py", "numpy.distutils", "mmap"],
    "pickle": ["pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle", "joblib", "copyreg"],
    "dynamic-import": ["importlib", "imp", "runpy", "pkgutil", "zipimport"],
    "eval-exec": ["code", "codeop", "timeit", "pdb"],
    "dunder-escape": ["builtins", "__builtin__", "inspect", "types", "gc"],
    "file-escape": ["tempfile", "shutil", "glob", "fileinput"],
}

FORBIDDEN_NAMES = {
    "eval": ("eval-exec", "eval() runs text as code"),
    "exec": ("eval-exec", "exec() runs text as code"),
    "compile": ("eval-exec", "compile() turns text into code"),
    "breakpoint": ("eval-exec", "breakpoint() opens a debugger that runs arbitrary code"),
    "__import__": ("dynamic-import", "__import__() imports modules by computed name"),
    "globals": ("dunder-escape", "globals() exposes the interpreter's namespaces"),
    "locals": ("dunder-escape", "locals() exposes the interpreter's namespaces"),
    "vars": ("dunder-escape", "vars() exposes object namespaces"),
    "__builtins__": ("dunder-escape", "__builtins__ reaches every built-in"),
    "__loader__": ("dunder-escape", "__loader__ reaches the import machinery"),
    "__spec__": ("dunder-escape", "__spec__ reaches the import machinery"),
}

ESCAPE_ATTRIBUTES = {
    "__builtins__", "__subclasses__", "__globals__", "__class__", "__bases__", "__base__",
    "__mro__", "__code__", "__closure__", "__func__", "__self__", "__dict__",
    "__getattribute__", "__import__", "__loader__", "__spec__", "__reduce__",
    "__reduce_ex__", "__init_subclass__", "__setattr__", "__delattr__", "__traceback__",
    "f_globals", "f_locals", "f_builtins", "f_back", "f_code", "gi_frame", "gi_code",
    "cr_frame", "ag_frame", "tb_frame", "tb_next", "co_code", "func_globals",
}

ESCAPE_STRING = re.compile("|".join(sorted((re.escape(n) for n in ESCAPE_ATTRIBUTES if n.startswith("__")), key=len, reverse=True)))

OS_ALLOWED = {
    "environ", "getenv", "cpu_count", "process_cpu_count", "sched_getaffinity", "getpid",
    "getcwd", "path", "sep", "linesep", "curdir", "name", "replace", "rename", "makedirs",
    "mkdir", "remove", "unlink", "listdir", "scandir", "stat", "fsync", "urandom", "times",
    "getloadavg", "walk", "PathLike", "fspath",
}
OS_RULES = {
    "process-spawn": re.compile(r"^(system|popen|exec\w*|spawn\w*|fork\w*|kill\w*|posix_spawn\w*|startfile|wait\w*)$"),
    "file-escape": re.compile(r"^(chdir|fchdir|chroot|chmod|chown|symlink|link|open|fdopen|expanduser|expandvars|devnull|pardir|mkfifo|mknod|truncate)$"),
}
SYS_ALLOWED = {
    "argv", "exit", "stdout", "stderr", "version", "version_info", "hexversion", "platform",
    "float_info", "int_info", "maxsize", "byteorder", "getrecursionlimit", "setrecursionlimit",
    "getsizeof", "float_repr_style", "exc_info", "implementation", "flags",
}
IO_ALLOWED = {"StringIO", "BytesIO"}
PATHLIB_ESCAPES = {"home", "expanduser"}

# Calls whose first argument (or the named keyword) is a file path.
PATH_FUNCTIONS = {
    "open", "io.open", "os.open", "numpy.load", "numpy.save", "numpy.savez", "numpy.savez_compressed",
    "numpy.savetxt", "numpy.loadtxt", "numpy.genfromtxt", "numpy.fromfile", "numpy.memmap",
    "numpy.fromregex", "numpy.lib.format.open_memmap", "pathlib.Path", "pathlib.PurePath",
    "os.listdir", "os.scandir", "os.makedirs", "os.mkdir", "os.remove", "os.unlink",
    "os.replace", "os.rename", "os.stat", "os.walk", "csv.reader", "csv.writer",
}
PATH_KEYWORDS = {"file", "fname", "filename", "path", "src", "dst"}
PATH_METHODS = {"tofile"}
PICKLE_METHODS = {"dump", "dumps"}

ABSOLUTE_OR_ESCAPING = re.compile(r"^(/[^\s/]|[A-Za-z]:[\\/]|\\\\|~)|(^|[\\/])\.\.([\\/]|$)")


def path_escape_reason(text):
    if not ABSOLUTE_OR_ESCAPING.search(text):
        return None
    if text.startswith("~"):
        return "a home-directory path"
    if ".." in text:
        return "a path that climbs out of the working directory"
    return "an absolute path"


class Checker(ast.NodeVisitor):
    def __init__(self, allow_cupy):
        self.allow_cupy = allow_cupy
        self.aliases = {}  # local name -> dotted module or object path
        self.findings = []
        self.docstrings = set()
        self.reported_literals = set()  # path literals already reported by the call that uses them
        self.inner_nodes = set()  # attributes and concatenations inside a larger one, checked as part of it

    def report(self, node, rule, message):
        self.findings.append(
            {"line": getattr(node, "lineno", 1), "col": getattr(node, "col_offset", 0) + 1, "rule": rule, "message": message}
        )

    # -- imports -----------------------------------------------------------

    def check_module(self, node, module):
        for rule, prefixes in MODULE_RULES.items():
            for prefix in prefixes:
                if module == prefix or module.startswith(prefix + "."):
                    self.report(node, rule, f"'{module}' is not allowed ({RULE_REASONS[rule]})")
                    return
        top = module.split(".")[0]
        if top == "numpy":
            return
        if top == "cupy":
            if not self.allow_cupy:
                self.report(
                    node, "cupy-without-gpu",
                    "import of 'cupy' needs a manifest with resources.gpu 'optional' or 'required' (and a numpy fallback)",
                )
            return
        if top not in STDLIB_ALLOWED:
            self.report(
                node, "import-not-allowed",
                f"import of '{module}' is not allowed: scripts may import numpy, cupy (GPU manifests) and these standard modules: {', '.join(sorted(STDLIB_ALLOWED))}",
            )

    def visit_Import(self, node):
        for alias in node.names:
            self.check_module(node, alias.name)
            if alias.asname:
                self.aliases[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                self.aliases[top] = top
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        if node.level:
            self.report(node, "import-not-allowed", "relative imports are not allowed: a script is one self-contained file")
            return
        module = node.module or ""
        self.check_module(node, module)
        for alias in node.names:
            if alias.name == "*":
                self.report(node, "import-not-allowed", f"'from {module} import *' hides what the script uses; import names explicitly")
                continue
            dotted = f"{module}.{alias.name}"
            self.check_dotted(node, dotted)
            self.aliases[alias.asname or alias.name] = dotted
        self.generic_visit(node)

    @staticmethod
    def is_module_path(dotted):
        return any(dotted == p or dotted.startswith(p + ".") for ps in MODULE_RULES.values() for p in ps)

    # -- names and attributes ----------------------------------------------

    def resolve(self, node):
        """Dotted path of a Name/Attribute chain rooted at an imported name, else None."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id in self.aliases:
            parts.append(self.aliases[node.id])
            return ".".join(reversed(parts))
        return None

    def check_dotted(self, node, dotted):
        parts = dotted.split(".")
        top, rest = parts[0], parts[1:]
        if not rest:
            return
        if self.is_module_path(dotted):
            self.check_module(node, dotted)
        elif top == "os" and rest[0] == "path":
            if len(rest) > 1 and rest[1] in ("expanduser", "expandvars"):
                self.report(node, "file-escape", f"'{dotted}' leads outside the working directory")
        elif top == "os" and rest[0] not in OS_ALLOWED:
            rule = next((r for r, pattern in OS_RULES.items() if pattern.match(rest[0])), "os-not-allowed")
            allowed = f"; os may be used for: {', '.join(sorted(OS_ALLOWED))}" if rule == "os-not-allowed" else ""
            self.report(node, rule, f"'{dotted}' is not allowed ({RULE_REASONS[rule]}){allowed}")
        elif top == "sys" and rest[0] not in SYS_ALLOWED:
            self.report(node, "sys-not-allowed", f"'{dotted}' reaches the interpreter's internals; sys may be used for: {', '.join(sorted(SYS_ALLOWED))}")
        elif top == "io" and rest[0] not in IO_ALLOWED:
            self.report(node, "file-escape", f"'{dotted}' is not allowed; use open() on a relative path, or io.StringIO / io.BytesIO")
        elif top == "pathlib" and len(rest) > 1 and rest[1] in PATHLIB_ESCAPES:
            self.report(node, "file-escape", f"'{dotted}' leads outside the working directory")

    def visit_Attribute(self, node):
        if node.attr in ESCAPE_ATTRIBUTES:
            self.report(node, "dunder-escape", f"attribute '{node.attr}' is a known sandbox escape")
        elif node.attr in PATHLIB_ESCAPES and not self.resolve(node):
            self.report(node, "file-escape", f"'.{node.attr}' leads outside the working directory")
        # Only the outermost attribute of a chain is checked, as the whole dotted path.
        if id(node) not in self.inner_nodes:
            dotted = self.resolve(node)
            if dotted:
                self.check_dotted(node, dotted)
        if isinstance(node.value, ast.Attribute):
            self.inner_nodes.add(id(node.value))
        self.generic_visit(node)

    def visit_BinOp(self, node):
        if id(node) not in self.inner_nodes:
            folded = fold_string(node)
            if folded is not None:
                self.check_string(node, folded)
        for child in (node.left, node.right):
            if isinstance(child, ast.BinOp):
                self.inner_nodes.add(id(child))
        self.generic_visit(node)

    def visit_Name(self, node):
        if node.id in FORBIDDEN_NAMES and node.id not in self.aliases:
            rule, why = FORBIDDEN_NAMES[node.id]
            self.report(node, rule, f"'{node.id}' is not allowed: {why}")
        self.generic_visit(node)

    def visit_Constant(self, node):
        if isinstance(node.value, str) and id(node) not in self.docstrings and id(node) not in self.reported_literals:
            self.check_string(node, node.value)

    def check_string(self, node, text):
        escape = ESCAPE_STRING.search(text) if "__" in text else None
        if escape:
            self.report(node, "dunder-escape", f"string '{escape.group(0)}' names a known sandbox escape")
            return
        reason = path_escape_reason(text)
        if reason:
            self.report(node, "file-escape", f"{reason} ({text[:60]!r}): scripts read and write only inside their working directory")

    # -- calls ---------------------------------------------------------------

    def visit_Call(self, node):
        func = node.func
        name = func.id if isinstance(func, ast.Name) else None
        dotted = self.resolve(func) if isinstance(func, ast.Attribute) else self.aliases.get(name, name)
        if name in ("getattr", "setattr", "delattr") and len(node.args) >= 2:
            self.check_attribute_argument(node, name, node.args[1])
        if dotted in PATH_FUNCTIONS or (dotted and dotted.endswith((".tofile",))):
            self.check_path_argument(node, dotted)
        if isinstance(func, ast.Attribute) and func.attr in PATH_METHODS and dotted is None:
            self.check_path_argument(node, f".{func.attr}")
        if isinstance(func, ast.Attribute) and func.attr in PICKLE_METHODS and (dotted is None or dotted.startswith("numpy")):
            self.report(node, "pickle", f"'.{func.attr}()' pickles data; write numbers as JSON instead")
        for keyword in node.keywords:
            if keyword.arg == "allow_pickle" and not (isinstance(keyword.value, ast.Constant) and keyword.value.value is False):
                self.report(keyword.value, "pickle", "allow_pickle unpickles data, which can run code; leave it False")
        folded = fold_string(node)
        if folded is not None:
            self.check_string(node, folded)
        self.generic_visit(node)

    def check_attribute_argument(self, node, func_name, argument):
        text = fold_string(argument)
        if text is None:
            self.report(node, "dynamic-attribute", f"{func_name}() with a computed attribute name hides what is accessed; use plain attribute access")
        elif text in FORBIDDEN_NAMES:
            self.report(node, FORBIDDEN_NAMES[text][0], f"{func_name}() of '{text}' is not allowed: {FORBIDDEN_NAMES[text][1]}")
        elif text in ESCAPE_ATTRIBUTES:
            self.report(node, "dunder-escape", f"{func_name}() of '{text}' is a known sandbox escape")
        elif isinstance(node.args[0], ast.Name) and node.args[0].id in self.aliases:
            self.check_dotted(node, f"{self.aliases[node.args[0].id]}.{text}")

    def check_path_argument(self, node, dotted):
        candidates = list(node.args[:1]) + [k.value for k in node.keywords if k.arg in PATH_KEYWORDS]
        if dotted in ("os.replace", "os.rename"):
            candidates = list(node.args[:2]) + [k.value for k in node.keywords if k.arg in PATH_KEYWORDS]
        for argument in candidates:
            literal = leading_literal(argument)
            reason = path_escape_reason(literal.value) if literal is not None else None
            if reason:
                self.reported_literals.add(id(literal))
                text = literal.value
                self.report(argument, "file-escape", f"{dotted}() on {reason} ({text[:60]!r}): scripts read and write only inside their working directory")

    def mark_docstring(self, node):
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            self.docstrings.add(id(body[0].value))
        self.generic_visit(node)

    visit_Module = visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = mark_docstring

    def run(self, tree):
        self.visit(tree)
        unique = {(f["line"], f["col"], f["rule"], f["message"]): f for f in self.findings}
        return sorted(unique.values(), key=lambda f: (f["line"], f["col"], f["rule"]))


RULE_REASONS = {
    "network": "no network access",
    "process-spawn": "no starting other programs",
    "ctypes": "no native code",
    "pickle": "unpickling can run code",
    "dynamic-import": "no importing by computed name",
    "eval-exec": "no running text as code",
    "dunder-escape": "reaches the interpreter's internals",
    "file-escape": "files only inside the working directory",
    "os-not-allowed": "not on the os allow-list",
}


def fold_string(node):
    """The value of a string built only from literals ('a' + 'b', ''.join([...]), f'...' of literals)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = fold_string(node.left), fold_string(node.right)
        return left + right if left is not None and right is not None else None
    if isinstance(node, ast.JoinedStr):
        parts = [fold_string(v) for v in node.values]
        return "".join(parts) if all(p is not None for p in parts) else None
    if (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join"
        and len(node.args) == 1 and isinstance(node.args[0], (ast.List, ast.Tuple))
    ):
        sep = fold_string(node.func.value)
        parts = [fold_string(e) for e in node.args[0].elts]
        if sep is not None and all(p is not None for p in parts):
            return sep.join(parts)
    return None


def leading_literal(node):
    """The string literal a path expression starts with, when it starts with one."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node
    if isinstance(node, ast.JoinedStr) and node.values:
        return leading_literal(node.values[0])
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Div)):
        return leading_literal(node.left)
    if isinstance(node, ast.Call) and node.args:
        return leading_literal(node.args[0])
    return None


def check_source(source, path, allow_cupy):
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as error:
        return [{"line": error.lineno or 1, "col": error.offset or 1, "rule": "syntax-error", "message": f"not valid Python 3: {error.msg}"}]
    except ValueError as error:
        return [{"line": 1, "col": 1, "rule": "syntax-error", "message": f"not valid Python 3: {error}"}]
    return Checker(allow_cupy).run(tree)


def check_file(path, allow_cupy):
    try:
        with open(path, "rb") as handle:
            source = handle.read()
    except OSError as error:
        return [{"line": 1, "col": 1, "rule": "unreadable", "message": f"cannot read the script: {error.strerror}"}]
    return check_source(source, path, allow_cupy)


def check_one(item):
    return check_file(*item)


def check_files(files):
    """Findings per file, in order; many files are spread over the machine's cores."""
    workers = min(len(files) // PARALLEL_FROM, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    if workers < 2:
        return [check_one(item) for item in files]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(check_one, files, chunksize=max(1, len(files) // (4 * workers))))


def main(argv):
    # AST nodes hold no reference cycles; the cyclic collector only slows parsing of many files.
    gc.disable()
    if argv[1:2] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    if argv[1:] == ["--stdin"]:
        request = json.load(sys.stdin)
        files = [(f["path"], bool(f.get("allow_cupy", False))) for f in request["files"]]
    elif argv[1:] and not any(a.startswith("-") for a in argv[1:]):
        files = [(p, False) for p in argv[1:]]
    else:
        print("usage: policy_check.py FILE... | --stdin", file=sys.stderr)
        return 2
    results = [{"path": path, "findings": findings} for (path, _), findings in zip(files, check_files(files))]
    json.dump({"results": results}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
