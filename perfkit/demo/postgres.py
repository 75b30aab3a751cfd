"""A real PostgreSQL server for the demo: initdb into a data dir, start on a loopback port."""

from __future__ import annotations

import glob
import hashlib
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg

from perfkit.demo import procs
from perfkit.errors import StackError

DEMO_USER = "perfkit"
DEMO_PASSWORD = "perfkit-demo"
DEMO_DATABASE = "perfkit_demo"
SERVER_BIN_DIRS = "/usr/lib/postgresql/*/bin"
INSTALL_HINT = "install it: apt-get install -y postgresql (or put initdb/pg_ctl on PATH)"

# A demo database on a disposable data dir: durability off, room for index builds.
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "512MB",
    "maintenance_work_mem": "512MB",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "30min",
    "max_connections": "100",
    "log_min_messages": "warning",
    # Per-statement figures for `bench` and `advise-indexes`, as a tuned production server has.
    "shared_preload_libraries": "pg_stat_statements",
}


def find_binary(name: str) -> str:
    """A PostgreSQL server binary: on PATH, else the newest /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"{SERVER_BIN_DIRS}/{name}"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if candidates:
        return candidates[-1]
    raise StackError(f"PostgreSQL server binary `{name}` not found", hint=INSTALL_HINT)


def data_dir_for(state_dir: Path) -> Path:
    """The data dir. As root it must belong to `postgres` and be reachable by it, so it
    lives under the temp dir rather than in a home directory `postgres` cannot enter."""
    if not procs.running_as_root():
        return state_dir / "pgdata"
    digest = hashlib.sha1(str(state_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"perfkit-pgdata-{digest}"


@dataclass(frozen=True)
class PostgresServer:
    data_dir: Path
    port: int
    log_file: Path

    @property
    def dsn(self) -> str:
        return (f"postgresql://{DEMO_USER}:{DEMO_PASSWORD}@127.0.0.1:{self.port}/"
                f"{DEMO_DATABASE}")

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://{DEMO_USER}:{DEMO_PASSWORD}@127.0.0.1:{self.port}/postgres"

    def pid(self) -> int | None:
        try:
            first = (self.data_dir / "postmaster.pid").read_text().splitlines()[0]
            return int(first)
        except (OSError, ValueError, IndexError):
            return None


def _run(argv: list[str], what: str) -> None:
    result = subprocess.run(procs.as_unprivileged(argv), capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        last = detail[-1] if detail else f"exit {result.returncode}"
        raise StackError(f"{what} failed: {last}")


def _prepare_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    procs.hand_over(path)
    path.chmod(0o700)


def check_data_dir(data_dir: Path) -> bool:
    """True when the dir holds a cluster; False when empty/absent; StackError when corrupt."""
    if not data_dir.exists() or not any(data_dir.iterdir()):
        return False
    missing = [name for name in ("PG_VERSION", "global", "base") if not (data_dir / name).exists()]
    if missing:
        raise StackError(f"demo data dir {data_dir} is corrupt (missing {', '.join(missing)})",
                         hint="run `perfkit demo down --purge` and `perfkit demo up` again")
    return True


def init_cluster(data_dir: Path) -> None:
    initdb = find_binary("initdb")
    _prepare_dir(data_dir)
    pwfile = data_dir.parent / f".{data_dir.name}.pw"
    pwfile.write_text(DEMO_PASSWORD + "\n")
    try:
        procs.hand_over(pwfile)
        pwfile.chmod(0o600)
        _run([initdb, "-D", str(data_dir), "-U", DEMO_USER, f"--pwfile={pwfile}",
              "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8",
              "--locale=C", "--no-sync"], "initdb")
    finally:
        pwfile.unlink(missing_ok=True)


def start(server: PostgresServer) -> int:
    """Start the server (pg_ctl -w) and return the postmaster pid."""
    pg_ctl = find_binary("pg_ctl")
    options = " ".join(f"-c {k}={v}" for k, v in SERVER_SETTINGS.items())
    options += f" -c port={server.port} -c unix_socket_directories={server.data_dir}"
    server.log_file.parent.mkdir(parents=True, exist_ok=True)
    server.log_file.touch()
    procs.hand_over(server.log_file)
    result = subprocess.run(
        procs.as_unprivileged([pg_ctl, "-D", str(server.data_dir), "-l", str(server.log_file),
                               "-w", "-t", "60", "-o", options, "start"]),
        capture_output=True, text=True, check=False,
    )
    pid = server.pid()
    if result.returncode != 0 or pid is None:
        raise StackError(f"PostgreSQL did not start: {procs.log_tail(server.log_file)}",
                         hint=f"full log: {server.log_file}; if the data dir is damaged, "
                              "`perfkit demo down --purge`")
    return pid


def ensure_database(server: PostgresServer) -> None:
    with psycopg.connect(server.admin_dsn, autocommit=True, connect_timeout=10) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                              (DEMO_DATABASE,)).fetchone()
        if not exists:
            conn.execute(f"CREATE DATABASE {DEMO_DATABASE}")


def stop(server: PostgresServer) -> None:
    if not server.data_dir.exists() or server.pid() is None:
        return
    pg_ctl = find_binary("pg_ctl")
    subprocess.run(procs.as_unprivileged([pg_ctl, "-D", str(server.data_dir), "-m", "fast",
                                          "-w", "-t", "30", "stop"]),
                   capture_output=True, text=True, check=False)


def answers(dsn: str) -> bool:
    try:
        with psycopg.connect(dsn, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False
