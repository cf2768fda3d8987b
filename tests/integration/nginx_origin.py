"""nginx (Debian's nginx-light) as a TLS origin that asks for client
certificates, and the client certificates to offer it, made at test time."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from harness import Pki, clean_env, free_port, run_tool
from parents import stop_group, wait_listening


def make_client_cert(pki: Pki, directory: Path, name: str, mode: int = 0o600,
                     key_of: str | None = None) -> Path:
    """A PEM file holding a certificate for CN=name signed by the test CA
    and its key (another certificate's key with key_of), in mode."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    key, csr, cert = d / f"{name}.key", d / f"{name}.csr", d / f"{name}.crt"
    run_tool(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
              "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN={name}/O=tlspeek tests",
              "-keyout", key, "-out", csr])
    run_tool(["openssl", "x509", "-req", "-in", csr, "-CA", pki.ca.cert, "-CAkey",
              pki.ca.key, "-days", "30", "-out", cert])
    bundle = d / f"{name}.pem"
    key_text = (d / f"{key_of}.key").read_text() if key_of else key.read_text()
    bundle.write_text(cert.read_text() + key_text)
    os.chmod(bundle, mode)
    return bundle


class Nginx:
    """nginx in the foreground with one TLS server per verify mode
    (`ssl_verify_client on` and `optional`), each answering every request
    with the client certificate's subject it saw ("-" for none) and
    nginx's own 400 page when a required certificate is missing."""

    def __init__(self, directory: Path, pki: Pki):
        self.dir = Path(directory)
        (self.dir / "tmp").mkdir(parents=True, exist_ok=True)
        self.ports = {"on": free_port(), "optional": free_port()}
        servers = "".join(
            f"""
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {pki.good.cert};
        ssl_certificate_key {pki.good.key};
        ssl_client_certificate {pki.ca.cert};
        ssl_verify_client {mode};
        location / {{
            default_type text/plain;
            return 200 "client: $ssl_client_s_dn\\n";
        }}
    }}"""
            for mode, port in self.ports.items())
        tmp = self.dir / "tmp"
        conf = self.dir / "nginx.conf"
        conf.write_text(f"""
daemon off;
master_process off;
worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp};
    proxy_temp_path {tmp};
    fastcgi_temp_path {tmp};
    uwsgi_temp_path {tmp};
    scgi_temp_path {tmp};
{servers}
}}
""")
        self.log = self.dir / "error.log"
        self.process = subprocess.Popen(
            ["nginx", "-p", str(self.dir), "-c", str(conf), "-e", str(self.log)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            env=clean_env(), start_new_session=True)
        try:
            for port in self.ports.values():
                wait_listening(port, self.process, "nginx", self.log)
        except BaseException:
            self.stop()
            raise

    def url(self, mode: str, host: str = "localhost", path: str = "/") -> str:
        return f"https://{host}:{self.ports[mode]}{path}"

    def stop(self):
        stop_group(self.process)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
