"""Start, stop, kill and restart the four Kaskade services as separate OS processes.

Each process gets its own log file and only its own database credentials from the environment
(`deploy/local/env.sh` or whatever the caller exported). Readiness: each service logs
"service started" once migrated, subscribed and relaying, and then answers /healthz on its port.
"""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("share_ingest", "attribution", "reward", "notification")
# Each service's HTTP API listens on the stack's base port plus its offset (8000..8003 by default);
# the n-th extra instance of a service adds 10 * n.
PORT_OFFSET = {name: i for i, name in enumerate(SERVICES)}


def _die_with_parent() -> None:
    """Linux: the service is killed if the thread that started it dies (a test run killed by a
    timeout must not leave services behind that answer the next run's requests)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@dataclass
class ServiceProcess:
    name: str  # the service's package, run as `python -m <name>`
    log_path: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    _log_offset: int = 0

    def start(self) -> None:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", self.name], cwd=ROOT, env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                     preexec_fn=_die_with_parent)
        log.close()

    def ready(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc and self.proc.returncode}; see {self.log_path}")
        with self.log_path.open("rb") as f:
            f.seek(self._log_offset)
            return b'"service started"' in f.read()

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no final commit, no flush."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, timeout: float = 40.0) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None


@dataclass
class Stack:
    log_dir: Path
    http_port: int = 8000
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, ServiceProcess] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def url(self, name: str, instance: int = 0) -> str:
        """Base URL of a service's HTTP API."""
        return f"http://127.0.0.1:{self._port(name, instance)}"

    def _port(self, name: str, instance: int = 0) -> int:
        return self.http_port + PORT_OFFSET[name] + 10 * instance

    def _env(self, name: str, instance: int = 0, more: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KASKADE_") or "DATABASE_URL" not in k}
        own = f"KASKADE_{name.upper()}_DATABASE_URL"
        if own not in os.environ:
            raise RuntimeError(f"{own} is not set: source deploy/local/env.sh or run `make up` first")
        env[own] = os.environ[own]  # a service sees only its own credentials
        env.update({f"KASKADE_{name.upper()}_HTTP_PORT": str(self._port(name, instance)),
                    "KASKADE_SHARE_INGEST_PUBLIC_BASE_URL": self.base_url, "PYTHONUNBUFFERED": "1"})
        env.update(self.extra_env)
        env.update(more or {})
        return env

    def start(self, *names: str, timeout: float = 60.0) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for name in names or SERVICES:
            if name not in self.processes and not _port_free(self._port(name)):
                raise RuntimeError(f"port {self._port(name)} is taken: another {name} (or something else) "
                                   "is running there; stop it first")
        for name in names or SERVICES:
            p = self.processes.get(name) or ServiceProcess(name, self.log_dir / f"{name}.log", self._env(name))
            self.processes[name] = p
            p.start()
        self.wait_ready(*(names or SERVICES), timeout=timeout)

    def wait_ready(self, *names: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        pending = set(names)
        while pending:
            pending = {n for n in pending if not self.processes[n].ready()}
            if pending and time.monotonic() > deadline:
                raise TimeoutError(f"services not ready after {timeout}s: {sorted(pending)}; logs in {self.log_dir}")
            time.sleep(0.2)
        for name in names:  # every service serves its API once started; wait until it answers
            self._wait_http(name, deadline)

    def _wait_http(self, key: str, deadline: float) -> None:
        name, _, n = key.partition("#")
        url = f"{self.url(name, int(n or 0))}/healthz"
        while True:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{key} did not answer on {url}")
            time.sleep(0.2)

    def add_instance(self, name: str, env: dict[str, str] | None = None) -> str:
        """Spawn one more instance of a consumer service (it joins the same consumer group), with
        `env` on top of the stack's; wait for it with `wait_ready`. Spawn from the main thread: a
        child dies with the thread that started it."""
        n = sum(1 for key in self.processes if key.split("#")[0] == name) + 1
        key = f"{name}#{n}"
        self.processes[key] = ServiceProcess(name, self.log_dir / f"{name}-{n}.log",
                                             self._env(name, instance=n, more=env))
        self.processes[key].start()
        return key

    def kill(self, name: str) -> None:
        self.processes[name].kill()

    def respawn(self, name: str) -> None:
        """Start a stopped or killed service again; wait for it with `wait_ready`."""
        self.processes[name].start()

    def stop(self) -> dict[str, int | None]:
        return {name: p.stop() for name, p in reversed(list(self.processes.items()))}


def main() -> None:
    """`make services`: run the four services in the foreground until Ctrl-C."""
    stack = Stack(log_dir=ROOT / ".local/logs")
    stack.start(timeout=90)
    print(f"share-ingest on {stack.base_url}; logs in {stack.log_dir}; Ctrl-C stops all four")
    try:
        while all(p.proc and p.proc.poll() is None for p in stack.processes.values()):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
