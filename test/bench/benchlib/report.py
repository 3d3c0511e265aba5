"""Machine description and table output (plain text and Markdown)."""
import datetime
import hashlib
import os
import platform
import subprocess

from .paths import PG_CONFIG, ROOT


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return [x for x in ("avx2", "fma", "avx512f") if x in flags]
    except OSError:
        pass
    return []


def _md5(path):
    try:
        with open(path, "rb") as f:
            return hashlib.md5(f.read()).hexdigest()
    except OSError:
        return None


def _cmd(args):
    try:
        return subprocess.run(args, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def installed_so_md5():
    libdir = _cmd([PG_CONFIG, "--pkglibdir"])
    return _md5(os.path.join(libdir, "retrieval.so")) if libdir else None


def machine_info():
    """Everything docs/benchmarks.md says about the machine and the build."""
    libdir = _cmd([PG_CONFIG, "--pkglibdir"])
    installed = os.path.join(libdir, "retrieval.so") if libdir else None
    built = os.path.join(ROOT, "retrieval.so")
    inst_md5, built_md5 = _md5(installed) if installed else None, _md5(built)
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "nproc": os.cpu_count() if _cmd(["nproc"]) is None else int(_cmd(["nproc"])),
        "cpu_model": cpu_model(),
        "cpu_flags": cpu_flags(),
        "kernel": platform.release(),
        "postgres": _cmd([PG_CONFIG, "--version"]),
        "cc": (_cmd(["cc", "--version"]) or "").splitlines()[0:1],
        "git_head": _cmd(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]) or "(no commits)",
        "installed_so_matches_tree": (None if not (inst_md5 and built_md5)
                                      else inst_md5 == built_md5),
        "installed_so_md5": inst_md5,
    }


def table(headers, rows, markdown=False):
    """Format rows (lists of already formatted strings) as a table."""
    rows = [[str(c) for c in r] for r in rows]
    if markdown:
        out = ["| " + " | ".join(headers) + " |",
               "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(out)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                              for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([fmt(headers), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def fmt_spread(stat, digits=2, unit=""):
    """'12.34 (11.90-12.80)': median across runs and the min-max spread."""
    if stat is None:
        return "n/a"
    f = "%%.%df" % digits
    if stat.get("runs", 1) > 1:
        return (f + "%s (" + f + "-" + f + ")") % (stat["median"], unit, stat["min"], stat["max"])
    return (f + "%s") % (stat["median"], unit)
