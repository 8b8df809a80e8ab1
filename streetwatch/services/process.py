"""Run a local daemon (mosquitto, influxd): detached start, pid file, readiness, clean stop.

Shared by `mosquitto.py` and `influxd.py`. Waiting is always "poll a condition until a deadline",
never a fixed sleep, and a timeout names what was awaited plus the daemon's last log lines.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from streetwatch.errors import ServiceError
from streetwatch.logs import log_event

logger = logging.getLogger(__name__)

LOG_TAIL_LINES = 20
POLL_INTERVAL_S = 0.02


def require_binary(binary: str, debian_package: str) -> str:
    """Absolute path of `binary` (name on PATH or path); ServiceError saying what to install."""
    found = shutil.which(binary)
    if found is None:
        raise ServiceError(
            f"{binary} not found on PATH: install Debian package {debian_package!r} "
            f"(apt-get install {debian_package})"
        )
    return found


def port_taken_error(service: str, host: str, port: int, how_to_move: str) -> ServiceError:
    """The error for a port some other process already listens on."""
    return ServiceError(
        f"cannot start {service}: {host}:{port} is already in use by another process; "
        f"stop that process or {how_to_move}"
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_open(host: str, port: int, timeout_s: float = 0.2) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def log_tail(paths: Iterable[Path], lines: int = LOG_TAIL_LINES) -> str:
    """The last `lines` lines of each existing log file, labelled, for error messages."""
    chunks = []
    for path in paths:
        if path.is_file():
            text = path.read_text(errors="replace").splitlines()[-lines:]
            chunks.append(f"--- last lines of {path} ---\n" + "\n".join(text))
    return "\n".join(chunks) or "(no log output)"


def wait_until(
    predicate: Callable[[], bool],
    timeout_s: float,
    what: str,
    logs: Sequence[Path] = (),
    abort: Callable[[], str | None] | None = None,
) -> None:
    """Poll `predicate` until it is true; ServiceError with the log tail on timeout or abort.

    `abort` returns a reason to give up early (e.g. "the process exited") or None to keep waiting.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return
        reason = abort() if abort is not None else None
        if reason is not None:
            raise ServiceError(f"gave up waiting for {what}: {reason}\n{log_tail(logs)}")
        if time.monotonic() >= deadline:
            raise ServiceError(
                f"timed out after {timeout_s:g} s waiting for {what}\n{log_tail(logs)}"
            )
        time.sleep(POLL_INTERVAL_S)


def stop_child(process: subprocess.Popen[bytes], timeout_s: float = 60.0) -> int | None:
    """SIGTERM a child we started, wait, SIGKILL after `timeout_s`; its exit status.

    SIGTERM lets a Streetwatch process finish its work (the ingester flushes and acks).
    """
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    return process.returncode


def pid_alive(pid: int) -> bool:
    """True when process `pid` exists and is not a zombie (reaps it if it is our exited child)."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _proc_state(pid) != "Z"


def _proc_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[0]


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def read_pid(pid_file: Path) -> int | None:
    """The pid in `pid_file`, or None when the file is absent or unreadable."""
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def write_atomically(path: Path, text: str, mode: int = 0o644) -> None:
    """Write `text` to `path` via a temporary file and rename, so readers never see half a file."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)  # created 0600, so a secret is never readable by others, even briefly
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on `path` (created 0600): concurrent CLIs/tests do not interleave."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class Daemon:
    """One local daemon identified by its pid file; knows how to spawn, recognise and stop it."""

    def __init__(self, name: str, config_file: Path, pid_file: Path, log_file: Path) -> None:
        self.name = name
        self.config_file = config_file
        self.pid_file = pid_file
        self.log_file = log_file
        self._popen: subprocess.Popen[bytes] | None = None

    def pid(self) -> int | None:
        """Pid of our live daemon, or None; a stale pid file (dead/foreign process) is removed."""
        pid = read_pid(self.pid_file)
        if pid is None:
            return None
        if self._alive(pid) and self._is_ours(pid):
            return pid
        log_event(logger, "services.stale_pid_file", service=self.name, pid=pid)
        self.pid_file.unlink(missing_ok=True)
        return None

    def _alive(self, pid: int) -> bool:
        if self._popen is not None and self._popen.pid == pid:
            return self._popen.poll() is None
        return pid_alive(pid)

    def _is_ours(self, pid: int) -> bool:
        # Our daemon runs with our config file on its command line; a recycled pid does not.
        return str(self.config_file) in _cmdline(pid)

    def exit_reason(self) -> str | None:
        """Why waiting for readiness is pointless: the spawned process has exited."""
        if self._popen is not None and self._popen.poll() is not None:
            return f"{self.name} exited with status {self._popen.returncode}"
        return None

    def spawn(self, argv: Sequence[str]) -> int:
        """Start `argv` in its own session (it outlives the CLI), output to the log file.

        `argv` must name `config_file`: that is how `pid()` recognises the process later.
        """
        if str(self.config_file) not in argv:
            raise ServiceError(
                f"{self.name} command line must name its config file {self.config_file}"
            )
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            self._popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        write_atomically(self.pid_file, f"{self._popen.pid}\n")
        log_event(logger, "services.spawned", service=self.name, pid=self._popen.pid)
        return self._popen.pid

    def signal(self, signum: int) -> bool:
        """Send `signum` to the running daemon; False when it is not running."""
        pid = self.pid()
        if pid is None:
            return False
        _kill(pid, signum)
        return True

    def stop(self, timeout_s: float) -> bool:
        """SIGTERM, wait for exit, SIGKILL after `timeout_s`; False when it was not running."""
        pid = self.pid()
        if pid is None:
            return False
        _kill(pid, signal.SIGTERM)
        try:
            wait_until(lambda: not self._alive(pid), timeout_s, f"{self.name} (pid {pid}) to exit")
        except ServiceError:
            log_event(logger, "services.kill", logging.WARNING, service=self.name, pid=pid)
            _kill(pid, signal.SIGKILL)
            wait_until(lambda: not self._alive(pid), 10, f"{self.name} (pid {pid}) to die")
        self.pid_file.unlink(missing_ok=True)
        self._popen = None
        log_event(logger, "services.stopped", service=self.name, pid=pid)
        return True


def _kill(pid: int, signum: int) -> None:
    """Signal `pid`; a process that is already gone is not an error."""
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
    except PermissionError as exc:
        raise ServiceError(f"cannot signal pid {pid}: {exc}") from exc
