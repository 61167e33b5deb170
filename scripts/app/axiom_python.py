"""The Python of the volunteer app: what PyInstaller freezes into one executable, `axiom_python`.

It does what `python` does for the reference client and the scripts it runs, and nothing more:
`axiom_python [-s] [-B] [-I] [-E] FILE ARGS...` runs FILE as __main__ with sys.argv = [FILE, ARGS...],
and `axiom_python -c CODE` runs CODE. numpy and every standard module the script policy allows are
imported below, so that PyInstaller bundles them; a frozen interpreter has no others.
Standard library and numpy only.
"""

import multiprocessing
import runpy
import sys

# What the script policy lets experiments import (scripts/policy_check.py STDLIB_ALLOWED), and numpy.
import abc, array, atexit, base64, binascii, bisect, calendar, cmath, collections, concurrent.futures  # noqa: E401,F401
import contextlib, contextvars, copy, csv, dataclasses, datetime, decimal, enum, errno, fractions  # noqa: E401,F401
import functools, gc, glob, graphlib, hashlib, heapq, hmac, io, itertools, json, logging, math  # noqa: E401,F401
import numbers, operator, os, pathlib, pprint, queue, random, re, secrets, signal, statistics  # noqa: E401,F401
import string, struct, textwrap, threading, time, traceback, tracemalloc, typing, unicodedata  # noqa: E401,F401
import uuid, warnings, weakref, zlib  # noqa: E401,F401
import multiprocessing.pool, ctypes, resource, ssl, tempfile, shutil, subprocess, urllib.request  # noqa: E401,F401  (the client's own)
import argparse, importlib.util, select, stat, sysconfig, _queue, _multiprocessing  # noqa: E401,F401  (the client's and the sandbox's)

try:
    import fcntl, _posixshmem  # noqa: E401,F401  (POSIX only: the client's core locks, multiprocessing.shared_memory)
except ImportError:
    pass
import numpy  # noqa: F401

FLAGS = {"-s", "-B", "-I", "-E", "-S", "-u"}


def main(argv):
    args = list(argv[1:])
    while args and args[0] in FLAGS:
        args.pop(0)
    if not args:
        print("usage: axiom_python [-s] [-B] FILE [ARGS...] | -c CODE", file=sys.stderr)
        return 2
    if args[0] == "-c":
        sys.argv = ["-c", *args[2:]]
        exec(compile(args[1], "<string>", "exec"), {"__name__": "__main__"})  # noqa: S102  (what python -c is)
        return 0
    sys.argv = args
    runpy.run_path(args[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    multiprocessing.freeze_support()  # Windows: workers start this executable again
    sys.exit(main(sys.argv))
