"""A real OpenSSH server on 127.0.0.1 for the `ssh` target's tests: the "device" is
this machine, reached with a throwaway key on a free port."""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.servers import free_port

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


@dataclass(frozen=True)
class Sshd:
    """A running sshd and what a `targets` entry needs to reach it."""

    host: str
    port: int
    identity: Path
    known_hosts: Path

    def target(self, **settings: object) -> dict[str, object]:
        """A `kind: ssh` entry for this server (settings override)."""
        return {"kind": "ssh", "host": self.host, "port": self.port,
                "identity": str(self.identity),
                "options": [f"UserKnownHostsFile={self.known_hosts}",
                            "StrictHostKeyChecking=yes"], **settings}


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


@contextlib.contextmanager
def running_sshd(directory: Path) -> Iterator[Sshd]:
    """sshd in the foreground on a free port, keys and config in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    host_key, user_key = directory / "host_key", directory / "user_key"
    _keygen(host_key)
    _keygen(user_key)
    authorized = directory / "authorized_keys"
    authorized.write_text((directory / "user_key.pub").read_text())
    authorized.chmod(0o600)
    port = free_port()
    known = directory / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {(directory / 'host_key.pub').read_text()}")
    config = directory / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}",
        f"AuthorizedKeysFile {authorized}", f"PidFile {directory / 'sshd.pid'}",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no",
        "StrictModes no", "PermitRootLogin prohibit-password", "LogLevel ERROR",
        "Subsystem sftp internal-sftp", "",
    ]))
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
    log = directory / "sshd.log"
    process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)],
                               stdout=subprocess.DEVNULL, stderr=log.open("w"))
    try:
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sshd did not start: {log.read_text()}")
            time.sleep(0.1)
        yield Sshd(f"{getpass.getuser()}@127.0.0.1", port, user_key, known)
    finally:
        process.terminate()
        process.wait(timeout=10)
