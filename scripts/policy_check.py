#!/usr/bin/env python3
"""Static policy check for Axiom Lab experiment scripts: a review aid, not the boundary.

An experiment script may use numpy (CuPy only where its manifest asks for a GPU), an allow-list of
standard-library modules, the cores it is given and files inside its working directory. It may not
reach the network, start programs, load native code, unpickle, evaluate code, import dynamically,
or reach the interpreter's internals.

What stands between a script and a volunteer's computer is the sandbox the client runs every script
in (scripts/axiom_sandbox.py): in Python every object reaches every other, so no static check can
close every way out. This check reads the source with Python's own parser and never runs it; it
catches honest mistakes early and tells the reviewer what a script touches. It follows module
objects through aliases, and refuses what hides them: modules passed around as values, modules
reached through another module's attributes, private attributes of modules and numpy internals,
attribute names computed at run time, and paths built from pieces that climb out of the working
directory.

Usage:
  policy_check.py FILE...                 check files, CuPy not allowed
  policy_check.py --stdin                 read {"files": [{"path", "allow_cupy"}]}
Output: {"results": [{"path", "findings": [{"line", "col", "rule", "message"}]}]}
Exit status: 0 when the check ran (findings or not), 2 on usage errors.
"""

import ast
import gc
import importlib
import json
import os
import re
import sys
import types
from concurrent.futures import ProcessPoolExecutor

# Below this many files per worker, one process is faster than starting more.
PARALLEL_FROM = 64
# A script is one small file; anything larger is refused unread (the client refuses it too).
MAX_SCRIPT_BYTES = 1024 * 1024

STDLIB_ALLOWED = {
    "__future__", "abc", "array", "atexit", "base64", "binascii", "bisect", "calendar",
    "cmath", "collections", "concurrent", "contextlib", "contextvars", "copy", "csv",
    "dataclasses", "datetime", "decimal", "enum", "errno", "fractions", "functools", "gc", "glob",
    "graphlib", "hashlib", "heapq", "hmac", "io", "itertools", "json", "logging", "math",
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
        "logging.handlers", "logging.config",
    ],
    "process-spawn": [
        "subprocess", "pty", "pexpect", "sh", "commands", "popen2", "platform", "multiprocessing.popen_fork",
        "multiprocessing.popen_spawn_posix", "multiprocessing.popen_forkserver", "multiprocessing.spawn",
        "multiprocessing.forkserver", "multiprocessing.util", "multiprocessing.resource_tracker",
    ],
    "ctypes": ["ctypes", "_ctypes", "cffi", "numpy.ctypeslib", "numpy.f2py", "numpy.distutils", "mmap",
               "multiprocessing.sharedctypes", "multiprocessing.heap"],
    "pickle": ["pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle", "joblib", "copyreg",
               "multiprocessing.reduction"],
    "dynamic-import": ["importlib", "imp", "runpy", "pkgutil", "zipimport"],
    "eval-exec": ["code", "codeop", "timeit", "pdb"],
    "dunder-escape": ["builtins", "__builtin__", "inspect", "types"],
    "file-escape": ["tempfile", "shutil", "fileinput"],
    "numpy-internal": ["numpy.core", "numpy.lib.format", "numpy.lib.npyio", "numpy.lib.utils", "numpy.compat",
                       "numpy.testing"],
}

FORBIDDEN_NAMES = {
    "eval": ("eval-exec", "eval() runs text as code"),
    "exec": ("eval-exec", "exec() runs text as code"),
    "compile": ("eval-exec", "compile() turns text into code"),
    "breakpoint": ("eval-exec", "breakpoint() opens a debugger that runs arbitrary code"),
    "help": ("help", "help() imports modules by name and runs their code"),
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
    "environ", "getenv", "cpu_count", "process_cpu_count", "sched_getaffinity", "sched_setaffinity", "getpid",
    "getcwd", "path", "sep", "linesep", "curdir", "name", "replace", "rename", "makedirs",
    "mkdir", "remove", "unlink", "listdir", "scandir", "stat", "fsync", "urandom", "times",
    "getloadavg", "walk", "PathLike", "fspath", "rmdir",
}
OS_RULES = {
    "process-spawn": re.compile(r"^(system|popen|exec\w*|spawn\w*|fork\w*|kill\w*|posix_spawn\w*|startfile|wait\w*|setsid|setpgid|getppid)$"),
    "file-escape": re.compile(r"^(chdir|fchdir|chroot|chmod|chown|symlink|link|open|fdopen|expanduser|expandvars|devnull|pardir|mkfifo|mknod|truncate|altsep)$"),
}
OS_PATH_ESCAPES = {"expanduser", "expandvars", "pardir"}
# os.path functions that, given the working directory, name a directory above it.
OS_PATH_CLIMBERS = {"dirname", "split", "normpath", "abspath", "realpath", "relpath", "commonpath"}
SYS_ALLOWED = {
    "argv", "exit", "stdout", "stderr", "version", "version_info", "hexversion", "platform",
    "float_info", "int_info", "maxsize", "byteorder", "getrecursionlimit", "setrecursionlimit",
    "getsizeof", "float_repr_style", "exc_info", "implementation", "flags",
}
IO_ALLOWED = {"StringIO", "BytesIO"}
GC_ALLOWED = {"collect", "disable", "enable", "isenabled", "get_count", "get_threshold", "set_threshold",
              "freeze", "unfreeze", "get_freeze_count", "get_stats"}
# Ways a pathlib path leaves where it started.
PATHLIB_ESCAPES = {"home", "expanduser", "cwd", "parent", "parents", "resolve", "absolute", "anchor", "root",
                   "readlink", "symlink_to", "hardlink_to"}

# Calls whose first argument (or the named keyword) is a file path.
PATH_FUNCTIONS = {
    "open", "io.open", "os.open", "numpy.load", "numpy.save", "numpy.savez", "numpy.savez_compressed",
    "numpy.savetxt", "numpy.loadtxt", "numpy.genfromtxt", "numpy.fromfile", "numpy.memmap",
    "numpy.fromregex", "numpy.lib.format.open_memmap", "pathlib.Path", "pathlib.PurePath",
    "os.listdir", "os.scandir", "os.makedirs", "os.mkdir", "os.remove", "os.unlink", "os.rmdir",
    "os.replace", "os.rename", "os.stat", "os.walk", "csv.reader", "csv.writer", "glob.glob", "glob.iglob",
    "logging.FileHandler", "logging.basicConfig",
}
# numpy's readers that also fetch URLs (through numpy.lib._datasource): only a literal relative path
# may go in. numpy.load, fromfile and memmap open local files only, and take any path the path rules
# allow (a checkpoint named by a constant, or found by glob over its own files).
NUMPY_LOADERS = {"numpy.loadtxt", "numpy.genfromtxt", "numpy.fromregex", "numpy.DataSource"}
PATH_KEYWORDS = {"file", "fname", "filename", "path", "src", "dst", "pathname"}
PATH_METHODS = {"tofile"}
PICKLE_METHODS = {"dump", "dumps"}
# operator's getters take attribute names as text: only literal names, and never an escape.
NAME_GETTERS = {"operator.attrgetter", "operator.methodcaller", "operator.itemgetter"}
# Modules that may be passed around as values: the array libraries, swapped for each other.
ARRAY_MODULES = {"numpy", "cupy"}

ABSOLUTE_OR_ESCAPING = re.compile(r"^(/|[A-Za-z]:[\\/]|\\\\|~[\w.-]*([\\/]|$))|(^|[\\/])\.\.([\\/]|$)")


def path_escape_reason(text):
    if "://" in text:
        return "a URL"
    if not ABSOLUTE_OR_ESCAPING.search(text):
        return None
    if text.startswith("~"):
        return "a home-directory path"
    if ".." in text:
        return "a path that climbs out of the working directory"
    return "an absolute path"


# -- what a dotted name is, asked of the interpreter -------------------------------------------------

_VALUES = {}


def value_of(dotted):
    """The object a dotted name of an allowed module refers to, found without running the script
    (importing only the standard library modules it may use, and numpy); None when unknown."""
    if dotted in _VALUES:
        return _VALUES[dotted]
    parts = dotted.split(".")
    value = None
    if parts[0] in STDLIB_ALLOWED or parts[0] == "numpy":
        try:
            value = importlib.import_module(parts[0])
            for index, part in enumerate(parts[1:], start=1):
                if isinstance(value, types.ModuleType) and not hasattr(value, part):
                    try:
                        importlib.import_module(".".join(parts[: index + 1]))
                    except ImportError:
                        pass
                value = getattr(value, part)
        except Exception:  # noqa: BLE001  (anything unknown is simply not resolved)
            value = None
    _VALUES[dotted] = value
    return value


def normalize(dotted):
    """The dotted name with every module on the way written by its own name: `pathlib.os.system`
    -> `os.system`, `typing.sys.modules` -> `sys.modules`. Genuine submodules keep their path."""
    parts = dotted.split(".")
    for end in range(2, len(parts)):
        prefix = ".".join(parts[:end])
        value = value_of(prefix)
        if isinstance(value, types.ModuleType) and prefix != "os.path" and value.__name__ != prefix:
            return normalize(".".join([value.__name__, *parts[end:]]))
    return dotted


class Checker(ast.NodeVisitor):
    def __init__(self, allow_cupy):
        self.allow_cupy = allow_cupy
        self.aliases = {}  # local name -> dotted module or object path
        self.findings = []
        self.docstrings = set()
        self.reported_literals = set()  # path literals already reported by the call that uses them
        self.inner_nodes = set()  # attributes and concatenations inside a larger one, checked as part of it
        self.parents = {}
        self.scopes = [set()]  # names bound in each enclosing function scope (and the module), innermost last

    def report(self, node, rule, message):
        self.findings.append(
            {"line": getattr(node, "lineno", 1), "col": getattr(node, "col_offset", 0) + 1, "rule": rule, "message": message}
        )

    # -- scopes: a parameter or variable named like a built-in is not the built-in --------------------

    @staticmethod
    def bound_names(node):
        """Names a function (or the module) binds in its own scope, as Python decides it."""
        names = set()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            a = node.args
            for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]:
                if arg is not None:
                    names.add(arg.arg)
        body = node.body if isinstance(node.body, list) else [node.body]
        stack = list(body)
        while stack:
            child = stack.pop()
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(child.name)
                stack.extend(child.decorator_list)
                continue  # its body is its own scope
            if isinstance(child, ast.Lambda):
                continue
            if isinstance(child, ast.Name) and isinstance(child.ctx, (ast.Store, ast.Del)):
                names.add(child.id)
            elif isinstance(child, ast.ExceptHandler) and child.name:
                names.add(child.name)
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                names.update((a.asname or a.name).split(".")[0] for a in child.names)
            stack.extend(ast.iter_child_nodes(child))
        return names

    def is_builtin(self, name):
        return not any(name in scope for scope in self.scopes)

    def visit_function(self, node):
        self.mark_docstring(node)
        # Defaults and decorators belong to the enclosing scope; the body to the function's own.
        for default in [*node.args.defaults, *node.args.kw_defaults]:
            if default is not None:
                self.visit(default)
        for decorator in getattr(node, "decorator_list", []):
            self.visit(decorator)
        self.scopes.append(self.bound_names(node))
        for child in node.body if isinstance(node.body, list) else [node.body]:
            self.visit(child)
        self.scopes.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = visit_function

    # -- imports -----------------------------------------------------------

    def check_module(self, node, module):
        for rule, prefixes in MODULE_RULES.items():
            for prefix in prefixes:
                if module == prefix or module.startswith(prefix + "."):
                    self.report(node, rule, f"'{module}' is not allowed ({RULE_REASONS[rule]})")
                    return True
        top = module.split(".")[0]
        if top == "numpy":
            return False
        if top == "cupy":
            if not self.allow_cupy:
                self.report(
                    node, "cupy-without-gpu",
                    "import of 'cupy' needs a manifest with resources.gpu 'optional' or 'required' (and a numpy fallback)",
                )
            return False
        if top not in STDLIB_ALLOWED:
            self.report(
                node, "import-not-allowed",
                f"import of '{module}' is not allowed: scripts may import numpy, cupy (GPU manifests) and these standard modules: {', '.join(sorted(STDLIB_ALLOWED))}",
            )
            return True
        return False

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

    def root_of(self, node):
        """The imported name an expression of attributes, calls and subscripts starts from, with the
        attribute names on the way: `Path.cwd().parent` -> ('pathlib.Path', ['cwd', 'parent'])."""
        attrs = []
        while isinstance(node, (ast.Attribute, ast.Call, ast.Subscript)):
            if isinstance(node, ast.Attribute):
                attrs.append(node.attr)
                node = node.value
            elif isinstance(node, ast.Call):
                node = node.func
            else:
                node = node.value
        if isinstance(node, ast.Name) and node.id in self.aliases:
            return self.aliases[node.id], list(reversed(attrs))
        return None, list(reversed(attrs))

    def check_dotted(self, node, dotted):
        parts = dotted.split(".")
        top, rest = parts[0], parts[1:]
        if not rest:
            return
        private = next((p for p in rest if p.startswith("_") and not (p.startswith("__") and p.endswith("__"))), None)
        if private and top in STDLIB_ALLOWED | ARRAY_MODULES:
            self.report(node, "private-attribute", f"'{dotted}' uses '{private}', a private part of a module: its internals reach what the module itself may not")
            return
        if self.is_module_path(dotted):
            self.check_module(node, dotted)
            return
        real = normalize(dotted) if top in STDLIB_ALLOWED | {"numpy"} else dotted
        if real != dotted:
            if real.split(".")[0] != top:
                self.report(node, "module-attribute", f"'{dotted}' reaches the module '{real.rsplit('.', 1)[0]}' through {top}; import what you use by its own name")
            self.check_module(node, real.split(".")[0]) or self.check_dotted(node, real)
            return
        if top == "os" and rest[0] == "path":
            if len(rest) > 1 and rest[1] in OS_PATH_ESCAPES:
                self.report(node, "file-escape", f"'{dotted}' leads outside the working directory")
        elif top == "os" and rest[0] not in OS_ALLOWED:
            rule = next((r for r, pattern in OS_RULES.items() if pattern.match(rest[0])), "os-not-allowed")
            allowed = f"; os may be used for: {', '.join(sorted(OS_ALLOWED))}" if rule == "os-not-allowed" else ""
            self.report(node, rule, f"'{dotted}' is not allowed ({RULE_REASONS[rule]}){allowed}")
        elif top == "sys" and rest[0] not in SYS_ALLOWED:
            self.report(node, "sys-not-allowed", f"'{dotted}' reaches the interpreter's internals; sys may be used for: {', '.join(sorted(SYS_ALLOWED))}")
        elif top == "io" and rest[0] not in IO_ALLOWED:
            self.report(node, "file-escape", f"'{dotted}' is not allowed; use open() on a relative path, or io.StringIO / io.BytesIO")
        elif top == "gc" and rest[0] not in GC_ALLOWED:
            self.report(node, "dunder-escape", f"'{dotted}' reaches every object of the interpreter; gc may be used for: {', '.join(sorted(GC_ALLOWED))}")
        elif top == "pathlib" and len(rest) > 1 and rest[1] in PATHLIB_ESCAPES:
            self.report(node, "file-escape", f"'{dotted}' leads outside the working directory")

    def visit_Attribute(self, node):
        if node.attr in ESCAPE_ATTRIBUTES:
            self.report(node, "dunder-escape", f"attribute '{node.attr}' is a known sandbox escape")
        elif node.attr in PATHLIB_ESCAPES and id(node) not in self.inner_nodes:
            root, attrs = self.root_of(node)
            if root is None or root.startswith("pathlib") or root.startswith("os"):
                if root is not None or node.attr in ("home", "expanduser", "cwd"):
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
        if node.id in FORBIDDEN_NAMES and node.id not in self.aliases and self.is_builtin(node.id):
            rule, why = FORBIDDEN_NAMES[node.id]
            self.report(node, rule, f"'{node.id}' is not allowed: {why}")
        if node.id in self.aliases and isinstance(node.ctx, ast.Load):
            self.check_module_value(node)
        self.generic_visit(node)

    def check_module_value(self, node):
        """A module is used by naming its attributes; handed around as a value it escapes every rule."""
        dotted = self.aliases[node.id]
        if dotted.split(".")[0] in ARRAY_MODULES or not isinstance(value_of(dotted), types.ModuleType):
            return
        parent = self.parents.get(id(node))
        if isinstance(parent, ast.Attribute) and parent.value is node:
            return
        self.report(node, "module-value", f"the module '{dotted}' is used as a value (assigned, passed or stored); use its attributes where you need them, so that what the script touches can be seen")

    def array_module(self, node):
        """The array module (numpy or cupy) an expression names: `np`, or `cupy if gpu else numpy`."""
        if isinstance(node, ast.Name):
            dotted = self.aliases.get(node.id)
            return dotted if dotted in ARRAY_MODULES else None
        if isinstance(node, ast.IfExp):
            body, orelse = self.array_module(node.body), self.array_module(node.orelse)
            return body if body and orelse else None
        return None

    def visit_Assign(self, node):
        # `xp = numpy` (or `cupy if ... else numpy`): the array module under another name, followed as an alias.
        module = self.array_module(node.value)
        if module:
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self.aliases[target.id] = module
        self.generic_visit(node)

    def visit_Constant(self, node):
        if id(node) in self.docstrings or id(node) in self.reported_literals:
            return
        if isinstance(self.parents.get(id(node)), ast.JoinedStr):
            return  # a piece of an f-string: judged as part of the whole, where it is used as a path
        if isinstance(node.value, str):
            self.check_string(node, node.value)
        elif isinstance(node.value, bytes):
            self.check_string(node, node.value.decode("latin-1"))

    def check_string(self, node, text):
        escape = ESCAPE_STRING.search(text) if "__" in text else None
        if escape:
            self.report(node, "dunder-escape", f"string '{escape.group(0)}' names a known sandbox escape")
            return
        reason = path_escape_reason(text) if "://" not in text else None
        if reason:
            self.report(node, "file-escape", f"{reason} ({text[:60]!r}): scripts read and write only inside their working directory")

    # -- calls ---------------------------------------------------------------

    def visit_Call(self, node):
        func = node.func
        name = func.id if isinstance(func, ast.Name) else None
        dotted = self.resolve(func) if isinstance(func, ast.Attribute) else self.aliases.get(name, name)
        if name in ("getattr", "setattr", "delattr", "hasattr") and len(node.args) >= 2 and self.is_builtin(name):
            self.check_attribute_argument(node, name, node.args[1])
        if dotted in NAME_GETTERS:
            for argument in node.args:
                self.check_attribute_argument(node, dotted, argument)
        if dotted in PATH_FUNCTIONS or (dotted and dotted.endswith((".tofile",))):
            self.check_path_argument(node, dotted)
        if dotted in NUMPY_LOADERS:
            self.check_loader_argument(node, dotted)
        if isinstance(func, ast.Attribute) and func.attr in PATH_METHODS and dotted is None:
            self.check_path_argument(node, f".{func.attr}")
        if isinstance(func, ast.Attribute) and func.attr in PICKLE_METHODS and (dotted is None or dotted.startswith("numpy")):
            self.report(node, "pickle", f"'.{func.attr}()' pickles data; write numbers as JSON instead")
        if isinstance(func, ast.Attribute) and func.attr in ("format", "format_map") and dotted is None:
            self.check_format(node, func.value)
        if dotted in ("multiprocessing.get_context", "multiprocessing.set_start_method") and node.args:
            method = fold_string(node.args[0])
            if method != "fork":
                self.report(node, "process-spawn", f"{dotted}({method!r}) starts workers by running a new interpreter; use the default (fork)")
        if dotted and dotted.startswith("os.path.") and dotted.split(".")[2] in OS_PATH_CLIMBERS and self.mentions_cwd(node):
            self.report(node, "computed-path", f"'{dotted}' of the working directory names a directory above it")
        if name == "chr" and self.is_builtin("chr") and node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value in (47, 92):
            self.report(node, "computed-path", "chr(47) and chr(92) spell a path separator; write paths as relative literals")
        for keyword in node.keywords:
            if keyword.arg == "allow_pickle" and not (isinstance(keyword.value, ast.Constant) and keyword.value.value is False):
                self.report(keyword.value, "pickle", "allow_pickle unpickles data, which can run code; leave it False")
        folded = fold_string(node)
        if folded is not None:
            self.check_string(node, folded)
        self.generic_visit(node)

    def mentions_cwd(self, node):
        for child in ast.walk(node):
            if isinstance(child, ast.Call) and child is not node:
                called = self.resolve(child.func) if isinstance(child.func, ast.Attribute) else None
                if called in ("os.getcwd", "os.getcwdb", "pathlib.Path.cwd"):
                    return True
        return False

    def check_attribute_argument(self, node, func_name, argument):
        text = fold_string(argument)
        if text is None:
            self.report(node, "dynamic-attribute", f"{func_name}() with a computed attribute name hides what is accessed; use plain attribute access")
        elif text in FORBIDDEN_NAMES:
            self.report(node, FORBIDDEN_NAMES[text][0], f"{func_name}() of '{text}' is not allowed: {FORBIDDEN_NAMES[text][1]}")
        elif any(part in ESCAPE_ATTRIBUTES for part in text.split(".")):
            self.report(node, "dunder-escape", f"{func_name}() of '{text}' is a known sandbox escape")
        elif func_name in ("getattr", "setattr", "delattr", "hasattr") and isinstance(node.args[0], ast.Name) and node.args[0].id in self.aliases:
            self.check_dotted(node, f"{self.aliases[node.args[0].id]}.{text}")

    def check_format(self, node, template):
        """str.format reaches attributes and items of its arguments by the names in the template."""
        text = fold_string(template)
        if text is None:
            self.report(node, "format-attribute", "str.format() on a template built at run time can reach any attribute of its arguments; use an f-string or a literal template")
            return
        for field in re.findall(r"\{([^{}!:]*)", text.replace("{{", "").replace("}}", "")):
            if "." in field or "[" in field:
                self.report(node, "format-attribute", f"the format field {{{field}}} reaches into an argument's attributes or items")
                return

    def check_path_argument(self, node, dotted):
        candidates = list(node.args[:1]) + [k.value for k in node.keywords if k.arg in PATH_KEYWORDS]
        if dotted in ("os.replace", "os.rename"):
            candidates = list(node.args[:2]) + [k.value for k in node.keywords if k.arg in PATH_KEYWORDS]
        for argument in candidates:
            literal = leading_literal(argument)
            text = None
            if literal is not None:
                text = literal.value.decode("latin-1") if isinstance(literal.value, bytes) else literal.value
            reason = path_escape_reason(text) if text is not None else None
            if reason:
                self.reported_literals.add(id(literal))
                self.report(argument, "file-escape", f"{dotted}() on {reason} ({text[:60]!r}): scripts read and write only inside their working directory")
            elif self.builds_path(argument):
                self.report(argument, "computed-path", f"{dotted}() on a path built from separators or the working directory; use a relative literal")

    def builds_path(self, node):
        """Whether a path expression is assembled from pieces that name other directories."""
        for child in ast.walk(node):
            if isinstance(child, ast.Attribute):
                dotted = self.resolve(child)
                if dotted in ("os.sep", "os.altsep", "os.path.sep", "os.pardir", "os.path.pardir", "os.curdir"):
                    return True
            if isinstance(child, ast.Call):
                called = self.resolve(child.func) if isinstance(child.func, ast.Attribute) else None
                if called in ("os.getcwd", "os.getcwdb") or (isinstance(child.func, ast.Name) and child.func.id == "chr"):
                    return True
        return False

    def check_loader_argument(self, node, dotted):
        argument = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg in PATH_KEYWORDS), None)
        if argument is None:
            return
        literal = argument.value if isinstance(argument, ast.Constant) else None
        if isinstance(argument, ast.JoinedStr) and argument.values and isinstance(argument.values[0], ast.Constant):
            literal = argument.values[0].value  # f"run_{seed}.npy": its directory is the literal part
        if not isinstance(literal, str) or path_escape_reason(literal):
            self.report(node, "numpy-loader", f"{dotted}() reads URLs as well as files: give it a literal relative path")

    def mark_docstring(self, node):
        body = node.body if isinstance(node.body, list) else []
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            self.docstrings.add(id(body[0].value))

    def visit_Module(self, node):
        self.mark_docstring(node)
        self.scopes = [self.bound_names(node)]
        self.generic_visit(node)

    def visit_ClassDef(self, node):
        self.mark_docstring(node)
        self.generic_visit(node)

    def run(self, tree):
        for parent in ast.walk(tree):
            for child in ast.iter_child_nodes(parent):
                self.parents[id(child)] = parent
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
    "numpy-internal": "numpy's internals reach pickle, ctypes and files",
}


def fold_string(node):
    """The value of a string built only from literals ('a' + 'b', '_' * 2, ''.join([...]), f'...' of literals)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = fold_string(node.left), fold_string(node.right)
        return left + right if left is not None and right is not None else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        for text, count in ((node.left, node.right), (node.right, node.left)):
            folded = fold_string(text)
            if folded is not None and isinstance(count, ast.Constant) and isinstance(count.value, int) and 0 <= count.value <= 64:
                return folded * count.value
        return None
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
    """The string (or bytes) literal a path expression starts with, when it starts with one."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
        return node
    if isinstance(node, ast.JoinedStr) and node.values:
        return leading_literal(node.values[0])
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Div, ast.Mod)):
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
            source = handle.read(MAX_SCRIPT_BYTES + 1)
    except OSError as error:
        return [{"line": 1, "col": 1, "rule": "unreadable", "message": f"cannot read the script: {error.strerror}"}]
    if len(source) > MAX_SCRIPT_BYTES:
        return [{"line": 1, "col": 1, "rule": "too-large", "message": f"the script is larger than {MAX_SCRIPT_BYTES} bytes"}]
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
