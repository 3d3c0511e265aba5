"""Where things are: the project root and the shared, read-only data."""
import os
import sys

# test/bench/benchlib/paths.py -> project root is three levels up.
ROOT = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BENCH_DIR = os.path.join(ROOT, "test", "bench")
CLUSTER_SH = os.path.join(ROOT, "test", "lib", "cluster.sh")
PG_CONFIG = os.environ.get("PG_CONFIG", "/usr/lib/postgresql/15/bin/pg_config")


class Skip(Exception):
    """Raised when a benchmark cannot run here (e.g. data absent): exit 0."""


def shared_data_dir():
    """$SHARED_DATA if set, else ../shared/data relative to the project root."""
    env = os.environ.get("SHARED_DATA")
    if env:
        return os.path.realpath(env)
    return os.path.realpath(os.path.join(ROOT, "..", "shared", "data"))


def data_path(*parts, required=()):
    """Path of a data set under the shared data directory.

    Raises Skip with a clear message when the directory, or any of the
    files named in `required` inside it, is missing.  Data are always read
    in place; nothing is copied into the project.
    """
    path = os.path.join(shared_data_dir(), *parts)
    missing = [p for p in [path] + [os.path.join(path, r) for r in required]
               if not os.path.exists(p)]
    if missing:
        raise Skip("data not found: %s (set SHARED_DATA to the directory that "
                   "holds ann/, beir/, ...)" % ", ".join(missing))
    return path


def log(msg):
    print(msg, file=sys.stderr, flush=True)
