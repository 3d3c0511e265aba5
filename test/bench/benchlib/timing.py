"""Per-query timing: client wall time and backend CPU time.

Backend CPU is the first field of /proc/<backend pid>/schedstat
(sum_exec_runtime, ns on CPU), read before and after each query; the pid
comes from pg_backend_pid().  The kernel only folds the running slice into
that counter when the task is descheduled (or at a scheduler tick), so the
"after" reading first waits (up to ~50 ms) until the backend has gone back
to sleep waiting for the next command.  Works when the client runs as root
or as the server's user (schedstat is world-readable on stock kernels).

With parallel query the figure covers the leader backend only, not its
workers.

    clock = BackendClock(conn)
    rows, wall_ms, cpu_ms = clock.run(cur, sql, params)
"""
import os
import time

import numpy as np


class BackendClock:
    def __init__(self, conn):
        with conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            self.pid = cur.fetchone()[0]
        self._schedstat = "/proc/%d/schedstat" % self.pid
        self._stat = "/proc/%d/stat" % self.pid
        self.available = os.access(self._schedstat, os.R_OK)

    def _state(self):
        with open(self._stat) as f:
            s = f.read()
        return s[s.rindex(")") + 2]

    def cpu_ns(self, settle=True):
        """Backend on-CPU ns so far (None when /proc is not readable)."""
        if not self.available:
            return None
        if settle:
            deadline = time.perf_counter() + 0.05
            while self._state() == "R" and time.perf_counter() < deadline:
                os.sched_yield()
        with open(self._schedstat) as f:
            return int(f.read().split()[0])

    def run(self, cur, sql, params=None):
        """Execute and fetch; returns (rows, wall_ms, cpu_ms or None)."""
        c0 = self.cpu_ns()
        t0 = time.perf_counter_ns()
        cur.execute(sql, params)
        rows = cur.fetchall() if cur.description is not None else None
        t1 = time.perf_counter_ns()
        c1 = self.cpu_ns()
        cpu = None if c0 is None else (c1 - c0) / 1e6
        return rows, (t1 - t0) / 1e6, cpu


def summarize(values):
    """median, p95 (linear interpolation), mean, min, max of a sample."""
    a = np.asarray([v for v in values if v is not None], dtype=float)
    if a.size == 0:
        return None
    return {"n": int(a.size), "median": float(np.median(a)),
            "p95": float(np.percentile(a, 95)), "mean": float(a.mean()),
            "min": float(a.min()), "max": float(a.max())}


def median_of_runs(per_run, key):
    """Median over runs of one statistic (e.g. each run's median), with the
    spread (min, max) across runs."""
    vals = [r[key] for r in per_run if r is not None and r.get(key) is not None]
    if not vals:
        return None
    return {"median": float(np.median(vals)), "min": float(min(vals)),
            "max": float(max(vals)), "runs": len(vals)}


class MachineBusy:
    """Average number of busy CPUs (all processes) between two points, from
    /proc/stat: shows whether something else competed with the benchmark.

        busy = MachineBusy(); ...; busy.cores()  -> e.g. 1.05
    """
    def __init__(self):
        self.start = self._read()

    @staticmethod
    def _read():
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)   # idle + iowait
        # guest time is already included in user/nice
        total = sum(fields[:8])
        steal = fields[7] if len(fields) > 7 else 0
        return total, idle, steal, time.monotonic()

    def cores(self):
        total, idle, _, t = self._read()
        t0, i0, _, m0 = self.start
        ticks = os.sysconf("SC_CLK_TCK")
        elapsed = t - m0
        if elapsed <= 0:
            return None
        return ((total - t0) - (idle - i0)) / ticks / elapsed

    def steal_fraction(self):
        total, _, steal, _ = self._read()
        t0, _, s0, _ = self.start
        return (steal - s0) / (total - t0) if total > t0 else 0.0


class BusyAccumulator:
    """MachineBusy summed over many short intervals (e.g. one per query of
    one setting, when settings are interleaved query by query)."""
    def __init__(self):
        self.busy_ticks = self.total_ticks = self.steal_ticks = 0
        self.elapsed = 0.0
        self._start = None

    def start(self):
        self._start = MachineBusy._read()

    def stop(self):
        total, idle, steal, t = MachineBusy._read()
        t0, i0, s0, m0 = self._start
        self.busy_ticks += (total - t0) - (idle - i0)
        self.total_ticks += total - t0
        self.steal_ticks += steal - s0
        self.elapsed += t - m0

    def cores(self):
        if self.elapsed <= 0:
            return None
        return self.busy_ticks / os.sysconf("SC_CLK_TCK") / self.elapsed

    def steal_fraction(self):
        return self.steal_ticks / self.total_ticks if self.total_ticks else 0.0


def wait_for_quiet(max_wait, threshold=0.3, interval=1.0):
    """Wait (at most max_wait s) until the machine is quiet: fewer than
    `threshold` CPUs busy over the last `interval` s.  Returns the seconds
    waited, or None when the machine never got quiet.  max_wait <= 0 is a
    no-op (returns 0)."""
    if max_wait <= 0:
        return 0.0
    start = time.monotonic()
    while True:
        b = MachineBusy()
        time.sleep(interval)
        if b.cores() < threshold:
            return time.monotonic() - start
        if time.monotonic() - start >= max_wait:
            return None
