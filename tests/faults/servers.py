"""The processes and wires faults are injected into: a Redis server of the test's own (killed, hung, restarted
empty), a TCP proxy in front of PostgreSQL (every connection cut, new ones refused), and the web app served by
gunicorn as in production."""

import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import redis
from django.conf import settings

from tests.notifications.smtp import free_port


def wait_until(condition, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(f"{what} after {timeout} s")


class RedisServer:
    """A redis-server of this test alone, on a port of its own, keeping nothing on disk: killing it and
    starting it again empties it, as a Redis without persistence restarts."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *["redis-server", "--bind", "127.0.0.1", "--port", str(self.port)],
                *["--save", "", "--appendonly", "no", "--daemonize", "no"],
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self.answers, timeout=10, what=f"redis-server on port {self.port} did not answer")

    def answers(self) -> bool:
        try:
            return redis.Redis(port=self.port, socket_timeout=0.5).ping()
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """Gone: connections refused."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def hang(self) -> None:
        """Stopped (SIGSTOP): connections are accepted by the kernel but nothing ever answers, as a Redis
        behind a broken network path would behave."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def restart_empty(self) -> None:
        self.kill()
        self.start()

    def queued(self) -> int:
        return redis.Redis(port=self.port).llen(settings.CELERY_TASK_DEFAULT_QUEUE)


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as a server process that dies does to its clients."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


class TcpProxy:
    """Forwards every connection to (host, port). cut(seconds) resets every open connection and refuses new
    ones for that long, as a PostgreSQL restart does to its clients."""

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.refusing_until = 0.0
        self.connections: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.cuts = self.refused = self.reset = 0
        self.closed = False
        threading.Thread(target=self._accept, daemon=True, name="pg-proxy").start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _address = self.listener.accept()
            except OSError:
                return
            if time.monotonic() < self.refusing_until:
                self.refused += 1
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            upstream.settimeout(None)
            with self.lock:
                self.connections |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self.lock:
                self.connections -= {source, sink}
            _reset(source)
            _reset(sink)

    def cut(self, seconds: float) -> None:
        self.cuts += 1
        self.refusing_until = time.monotonic() + seconds
        with self.lock:
            open_now, self.connections = list(self.connections), set()
        self.reset += len(open_now) // 2
        for sock in open_now:
            _reset(sock)

    def close(self) -> None:
        self.closed = True
        self.cut(0)
        _reset(self.listener)


class WebServer:
    """The app as production serves it (gunicorn, sync workers, each keeping its database connection for
    DB_CONN_MAX_AGE seconds), with the environment given."""

    def __init__(self, env: dict[str, str], log: Path, workers: int = 2):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with open(log, "wb") as output:
            self.process = subprocess.Popen(
                [
                    *[sys.executable, "-m", "gunicorn", "config.wsgi:application"],
                    *["--bind", f"127.0.0.1:{self.port}", "--workers", str(workers), "--timeout", "30"],
                ],
                cwd=settings.BASE_DIR,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(self._up, timeout=30, what=f"gunicorn did not answer; log:\n{self._tail()}")

    def _up(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{self._tail()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
            return True
        return False

    def _tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
