"""A real PostgreSQL for the ledger tests: Debian's server binaries (installed by
integration/prereqs.sh), a cluster made by `initdb` in a temporary directory and started by
`pg_ctl` on a free loopback port. PostgreSQL refuses to run as root: under root the cluster
belongs to the `postgres` user the Debian package creates."""

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path



def pg_bin(tool):
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"))
    return found[-1] if found else shutil.which(tool)


def available():
    return pg_bin("initdb") is not None and pg_bin("pg_ctl") is not None


def needs_postgres():
    import pytest  # here, not at the top: the load benchmark imports this module without pytest

    missing = not available()
    if missing and os.environ.get("CI") == "true":
        pytest.fail("PostgreSQL is missing in CI: integration/prereqs.sh should have installed it")
    return pytest.mark.skipif(missing, reason="PostgreSQL is installed by integration/prereqs.sh")


class Postgres:
    def __init__(self, port):
        self.port = port
        # Not under pytest's temporary directory: that one is private to root, and under root the
        # server runs as `postgres`.
        self.base = Path(tempfile.mkdtemp(prefix="stav-pg-"))
        self.dir = self.base / "pgdata"
        self.sock = self.base / "pgsock"
        self.as_root = os.geteuid() == 0
        self.log = self.base / "postgres.log"

    def _run(self, args, check=True):
        if self.as_root:
            args = ["runuser", "-u", "postgres", "--", *args]
        return subprocess.run(args, capture_output=True, text=True, timeout=60, check=check)

    def init(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        self.sock.mkdir(parents=True, exist_ok=True)
        self.log.touch()
        if self.as_root:
            for p in (self.base, self.dir, self.sock, self.log):
                shutil.chown(p, "postgres", "postgres")
        self._run([pg_bin("initdb"), "-D", str(self.dir), "-U", "stav", "--auth=trust", "-E", "UTF8"])

    def start(self):
        opts = f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run([pg_bin("pg_ctl"), "-D", str(self.dir), "-o", opts, "-l", str(self.log), "-w", "start"])

    def stop(self):
        self._run([pg_bin("pg_ctl"), "-D", str(self.dir), "-m", "fast", "-w", "stop"], check=False)

    def remove(self):
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def url(self, db="postgres"):
        return f"postgres://stav@127.0.0.1:{self.port}/{db}"

    def sql(self, query, db="postgres"):
        """Rows of a query, as lists of strings (psql's unaligned output)."""
        psql = pg_bin("psql") or "psql"
        r = subprocess.run([psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", "stav", "-d", db,
                            "-At", "-F", "\t", "-c", query], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return [line.split("\t") for line in r.stdout.splitlines() if line]

    def wait_up(self, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            psql = pg_bin("psql") or "psql"
            r = subprocess.run([psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", "stav", "-d", "postgres",
                                "-c", "select 1"], capture_output=True, text=True)
            if r.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("postgres did not come up")
