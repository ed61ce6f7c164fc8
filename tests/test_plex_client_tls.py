"""plex/client.py over real TLS: a local https Plex (the emulator behind a certificate made
for the test with the ``openssl`` command), and the advice each TLS failure gets.

The settings must win over the environment ('Skip TLS certificate check' and 'CA
certificate file' with ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` set), the advice must fit
the cause (found from the ``ssl`` exception, not from message text), and skip-verify must
not flood Stash's log with urllib3 warnings.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
from pathlib import Path

import pytest

from plex.client import PlexConnection
from plex.exceptions import ConfigurationError
from sandbox.plex_server import PlexServer, _HTTPServer
from tests.sync_support import plex_config, plex_emu  # noqa: F401  (fixture)

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command for a test certificate")

ENV_BUNDLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def make_certificate(folder: Path, name: str, alt_names: str) -> tuple[Path, Path]:
    """A self-signed certificate and its key (EC: quick to make)."""
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}",
                    "-addext", f"subjectAltName={alt_names}"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


class TlsPlexServer(PlexServer):
    """The Plex emulator served over https (the handshake runs in each request's thread)."""

    def __init__(self, cert: Path, key: Path) -> None:
        super().__init__()
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(str(cert), str(key))

    def start(self) -> "TlsPlexServer":
        if self._httpd is None:
            self._httpd = _HTTPServer((self.host, self.port), self)
            self._httpd.socket = self._context.wrap_socket(self._httpd.socket, server_side=True,
                                                           do_handshake_on_connect=False)
            self.port = self._httpd.server_address[1]
            self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                            daemon=True)
            self._thread.start()
        return self

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("certs")
    return {"good": make_certificate(folder, "plex-local", "IP:127.0.0.1,DNS:localhost"),
            "other_name": make_certificate(folder, "plex-elsewhere", "DNS:plex.example")}


@pytest.fixture
def tls_plex(certs):
    server = TlsPlexServer(*certs["good"]).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def no_env_bundle(monkeypatch):
    for name in ENV_BUNDLES:
        monkeypatch.delenv(name, raising=False)


def connect(server: PlexServer, **settings) -> None:
    conn = PlexConnection(plex_config(server, **settings))
    try:
        conn.all_sections()
    finally:
        conn.close()


def failure(server: PlexServer, **settings) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as info:
        connect(server, **settings)
    return info.value


# ------------------------------------------------------------------ advice fits the cause
def test_untrusted_certificate_advises_the_ca_file_or_skipping(tls_plex):
    error = failure(tls_plex)
    assert error.setting == "CA certificate file"
    assert "'CA certificate file'" in error.message and "'Skip TLS certificate check'" in error.message


def test_https_to_an_http_server_says_use_http_even_with_skip_ticked(plex_emu):
    url = plex_emu.url.replace("http://", "https://")
    conn = PlexConnection(plex_config(plex_emu, plex_url=url, verify_tls=False))
    with pytest.raises(ConfigurationError) as info:
        conn.server()
    conn.close()
    assert info.value.setting == "Plex server URL"
    assert "http://" in info.value.message and "Skip TLS" not in info.value.message


def test_certificate_for_another_name_says_so(certs):
    cert, key = certs["other_name"]
    server = TlsPlexServer(cert, key).start()
    try:
        error = failure(server, ca_bundle=str(cert))
    finally:
        server.stop()
    assert error.setting == "Plex server URL" and "another name" in error.message
    assert "Skip TLS" not in error.message


# ------------------------------------------------------------- settings beat environment
@pytest.mark.parametrize("env", [None, *ENV_BUNDLES])
def test_ca_file_setting_wins_over_the_environment(tls_plex, certs, monkeypatch, env):
    import certifi

    if env:
        monkeypatch.setenv(env, certifi.where())   # a real bundle that does not hold our certificate
    connect(tls_plex, ca_bundle=str(certs["good"][0]))


@pytest.mark.parametrize("env", [None, *ENV_BUNDLES])
def test_skip_verify_wins_over_the_environment(tls_plex, monkeypatch, env):
    import certifi

    if env:
        monkeypatch.setenv(env, certifi.where())
    connect(tls_plex, verify_tls=False)


def test_environment_bundle_still_applies_when_no_setting_is_made(tls_plex, certs, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certs["good"][0]))
    connect(tls_plex)


def test_environment_bundle_that_does_not_exist_is_a_setting_error_not_a_crash(tls_plex, tmp_path, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "gone.pem"))
    error = failure(tls_plex)
    assert error.setting == "CA certificate file"


# ------------------------------------------------------------------------ one warning
def test_skip_verify_warns_once_through_our_log_not_per_request(tls_plex, capsys, recwarn):
    import plex.client

    plex.client._insecure_told = False
    for _ in range(3):
        connect(tls_plex, verify_tls=False)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "certificate" in line]
    assert len(lines) == 1 and lines[0].startswith("\x01w\x02"), err
    assert not [w for w in recwarn.list if "Unverified HTTPS" in str(w.message)]


def test_proxies_come_from_the_environment_once(monkeypatch):
    # Read at session creation (no_proxy honoured for the Plex URL), not per request.
    from validation.config import PlexSyncConfig

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "nas.local")

    def session(url: str):
        return PlexConnection(PlexSyncConfig(plex_url=url, plex_token="t" * 20))._make_session()

    proxied, direct = session("https://plex.example:32400"), session("https://nas.local:32400")
    assert proxied.trust_env is False and proxied.proxies.get("https") == "http://proxy.example:3128"
    assert "https" not in direct.proxies
