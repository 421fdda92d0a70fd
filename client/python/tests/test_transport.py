"""TLS options and the bearer token reach the wire. Today's qstep server has neither, so a small Python gRPC server
built from the generated servicer stands in for it: it records each call's metadata and answers ServerInfo."""

from __future__ import annotations

import subprocess
from concurrent import futures

import grpc
import pytest

import qstep
from qstep._proto import info_pb2, service_pb2_grpc


class Recorder(service_pb2_grpc.QstepServicer):
    def __init__(self):
        self.metadata = []

    def ServerInfo(self, request, context):
        self.metadata.append(dict(context.invocation_metadata()))
        return info_pb2.ServerInfoResponse(version="stand-in", backend="cpu")


def serve(recorder, credentials=None):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    service_pb2_grpc.add_QstepServicer_to_server(recorder, server)
    port = (server.add_secure_port("127.0.0.1:0", credentials) if credentials
            else server.add_insecure_port("127.0.0.1:0"))
    server.start()
    return server, f"127.0.0.1:{port}"


def test_token_is_sent_as_bearer_metadata_on_plaintext():
    rec = Recorder()
    server, address = serve(rec)
    try:
        with qstep.Client(address, token="s3cret-token", metadata={"x-trace": "abc"}) as c:
            assert c.server_info().version == "stand-in"
        assert rec.metadata[-1]["authorization"] == "Bearer s3cret-token"
        assert rec.metadata[-1]["x-trace"] == "abc"
        with qstep.Client(address) as c:
            c.server_info()
        assert "authorization" not in rec.metadata[-1]
    finally:
        server.stop(0)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=qstep-test",
                    "-addext", "subjectAltName=DNS:qstep-test", "-keyout", str(d / "key.pem"), "-out",
                    str(d / "cert.pem")], check=True, capture_output=True)
    return (d / "key.pem").read_bytes(), (d / "cert.pem").read_bytes()


def test_tls_with_a_private_ca_and_server_name_override(certs):
    key, cert = certs
    rec = Recorder()
    server, address = serve(rec, grpc.ssl_server_credentials([(key, cert)]))
    try:
        with qstep.Client(address, root_certificates=cert, server_name="qstep-test", token="t0k") as c:
            assert c.secure and c.server_info().version == "stand-in"
        assert rec.metadata[-1]["authorization"] == "Bearer t0k"
        # Plaintext against a TLS port, and TLS without trusting the CA, both fail as UNAVAILABLE.
        with qstep.Client(address, timeout=3) as c:
            with pytest.raises(qstep.QstepError) as info:
                c.server_info()
            assert info.value.code == grpc.StatusCode.UNAVAILABLE
        with qstep.Client(address, tls=True, server_name="qstep-test", timeout=3) as c:
            with pytest.raises(qstep.QstepError) as info:
                c.server_info()
            assert info.value.code == grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop(0)
