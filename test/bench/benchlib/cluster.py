"""A throwaway PostgreSQL cluster for one benchmark run.

    with Cluster(gucs={"jit": "off"}) as cl:
        conn = cl.connect()
        ...

Uses the project's test/lib/cluster.sh (initdb into a fresh directory under
/tmp, socket-only, port 5432; run as root it switches to the "postgres"
account).  The cluster is stopped and its directory removed when the block
exits, also on errors, Ctrl-C and SIGTERM (turned into an exception by
install_signal_handlers()).  On an error the tail of the server log is
printed first.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile

import psycopg2

from .paths import CLUSTER_SH, log


def install_signal_handlers():
    """Make SIGTERM and SIGHUP raise SystemExit so that `finally` and
    context-manager exits run (Python only does that for SIGINT)."""
    def handler(signum, _frame):
        raise SystemExit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


class Cluster:
    def __init__(self, gucs=None, keep=False, prefix="retrieval-bench."):
        self.gucs = dict(gucs or {})
        self.keep = keep
        self.prefix = prefix
        self.dir = None

    # -- lifecycle ---------------------------------------------------------
    def start(self):
        self.dir = tempfile.mkdtemp(prefix=self.prefix, dir="/tmp")
        args = [CLUSTER_SH, "start", self.dir] + \
            ["%s=%s" % (k, v) for k, v in self.gucs.items()]
        log("starting a throwaway cluster in %s" % self.dir)
        try:
            subprocess.run(args, check=True)
        except BaseException:
            self._print_log()
            self.stop()
            raise
        return self

    def stop(self):
        if self.dir is None:
            return
        if self.keep:
            log("keeping the cluster in %s (stop it with: %s stop %s)"
                % (self.dir, CLUSTER_SH, self.dir))
            return
        subprocess.run([CLUSTER_SH, "stop", self.dir],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and issubclass(exc_type, Exception):
            self._print_log()   # an error, not Ctrl-C or SIGTERM
        self.stop()
        return False

    def _print_log(self, lines=30):
        path = os.path.join(self.dir or "", "server.log")
        if self.dir and os.path.exists(path):
            with open(path, errors="replace") as f:
                tail = f.readlines()[-lines:]
            if tail:
                print("---- last lines of %s ----" % path, file=sys.stderr)
                sys.stderr.writelines(tail)
                print("----", file=sys.stderr)

    # -- connections -------------------------------------------------------
    def dsn(self, dbname="postgres"):
        return "host=%s port=5432 user=postgres dbname=%s" % (self.dir, dbname)

    def connect(self, dbname="postgres", autocommit=True):
        conn = psycopg2.connect(self.dsn(dbname))
        conn.autocommit = autocommit
        return conn

    def create_database(self, name, extension="retrieval"):
        """CREATE DATABASE name (and CREATE EXTENSION in it); returns a
        connection to it."""
        admin = self.connect()
        try:
            with admin.cursor() as cur:
                cur.execute("CREATE DATABASE %s" % name)
        finally:
            admin.close()
        conn = self.connect(name)
        if extension:
            with conn.cursor() as cur:
                cur.execute("CREATE EXTENSION %s" % extension)
        return conn
