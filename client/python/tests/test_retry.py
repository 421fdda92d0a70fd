"""A step whose connection breaks is retried with its (worker id, step id) and applied exactly once, end to end: a
TCP proxy between client and server cuts the connection while the server is sending the updated weights back, so
the client sees UNAVAILABLE for a step the server did apply, retries it, and gets the recorded result."""

from __future__ import annotations

import socket
import threading

import qstep
from helpers import fingerprint, make_model, randn


class CuttingProxy:
    """Forwards 127.0.0.1:<port> to the server. Once armed, the connection on which the server has sent `after`
    more bytes (only returned weights come in such amounts, and they flow only after the step was applied) stops
    passing the server's bytes and is cut. Later connections pass through."""

    def __init__(self, target: str):
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.armed_after = None
        self.cuts = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, after: int) -> None:
        with self.lock:
            self.armed_after = after
            self.armed_at = dict(self.received)

    def _accept(self) -> None:
        self.received = {}
        while True:
            try:
                down, _ = self.listener.accept()
            except OSError:
                return
            up = socket.create_connection(self.target)
            key = len(self.received)
            self.received[key] = 0
            threading.Thread(target=self._pump, args=(down, up, None), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, down, key), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, key) -> None:
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                if key is not None:
                    with self.lock:
                        self.received[key] += len(data)
                        if self.armed_after is not None and (
                                self.received[key] - self.armed_at.get(key, 0) >= self.armed_after):
                            self.armed_after = None
                            self.cuts += 1
                            break  # drop this piece and cut the connection
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self.listener.close()


def test_a_step_cut_off_after_its_commit_is_retried_and_applied_once(server, name):
    proxy = CuttingProxy(server.address)
    try:
        with qstep.Client(proxy.address, step_retries=8, retry_backoff=0.1,
                          channel_options=[("grpc.initial_reconnect_backoff_ms", 50),
                                           ("grpc.min_reconnect_backoff_ms", 50)]) as c:
            make_model(c, name, [("w", [256, 1024], "fp32")], "adam")
            before = fingerprint(c, name)
            grads = {"w": randn([256, 1024], "fp32", 0.01)}
            proxy.arm(after=256 * 1024)  # a quarter of the weights on their way back
            r = c.step(name, grads, return_weights=True)
            assert proxy.cuts == 1
            assert r.model_step == 1 and c.describe(name).model_step == 1
            assert fingerprint(c, name) != before
            assert r.replayed  # the server had applied it: the retry got the recorded result and the weights
            assert (r.weights["w"] == c.snapshot(name, state="none").array("w")).all()
            c.delete_model(name)
    finally:
        proxy.close()
