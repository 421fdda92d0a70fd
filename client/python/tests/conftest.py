"""A real `qstep serve` for the whole session (started from this checkout with node, CPU backend, port 0), and a
Client connected to it. The server's first JSON log line with msg "serving" carries the address it bound."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import threading
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "client" / "python"))

import qstep  # noqa: E402


class Server:
    def __init__(self, *args: str):
        env = dict(os.environ, QSTEP_BACKEND=os.environ.get("QSTEP_BACKEND", "cpu"))
        self.proc = subprocess.Popen(
            ["node", str(ROOT / "bin" / "qstep.js"), "serve", "--host", "127.0.0.1", "--port", "0",
             "--metrics-port", "-1", "--threads", "2", "--log-level", "info", *args],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.logs = []
        self.address = None
        for line in self.proc.stdout:
            self.logs.append(line)
            if line.startswith("{"):
                rec = json.loads(line)
                if rec.get("msg") == "serving":
                    self.address = rec["address"]
                    break
        if self.address is None:
            self.proc.wait(timeout=10)
            raise RuntimeError("qstep serve did not start:\n" + "".join(self.logs[-40:]))
        # Keep draining the log so the server never blocks on a full pipe.
        threading.Thread(target=lambda: self.logs.extend(self.proc.stdout), daemon=True).start()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="session")
def server():
    s = Server()
    yield s
    s.stop()


@pytest.fixture
def client(server):
    with qstep.Client(server.address) as c:
        yield c


@pytest.fixture
def name():
    """A fresh model name per test."""
    return f"t-{uuid.uuid4().hex[:10]}"
