"""Two nodes run the way PoC officers run them: `iti db upgrade`, `iti node init`, `iti node export-entry`,
`iti peer import --fingerprint`, `iti serve` as a real process, `iti peer ping`, `iti outbox`/`iti inbox`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.cli.test_cli import Iti, iti_for


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class CliNode:
    iti: Iti
    country: str
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "serve", "--port", str(self.port)],
            env=self.iti.env,
            cwd=self.iti.cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"iti serve for {self.country} did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None


@pytest.fixture
def cli_nodes(tmp_path: Path) -> Iterator[tuple[CliNode, CliNode]]:
    made = []
    for country in ("KE", "UG"):
        folder = tmp_path / country
        folder.mkdir()
        iti = iti_for(folder / "node.db", folder / "var", folder)
        iti.env.update(
            ITI_NODE_COUNTRY=country,
            ITI_FEDERATION_KEY_PASSPHRASE=f"pass {country}",
            ITI_FEDERATION_DELIVERY_INTERVAL="0",
        )
        iti("db", "upgrade")
        made.append(CliNode(iti, country, free_port()))
    yield made[0], made[1]
    for node in made:
        node.stop()


@pytest.mark.slow
def test_two_nodes_set_up_and_ping_each_other_from_the_command_line(
    cli_nodes: tuple[CliNode, CliNode], tmp_path: Path
) -> None:
    a, b = cli_nodes
    a.iti("outbox", "list", code=0)  # an empty outbox is fine before init
    assert "iti node init" in a.iti("node", "show", code=4).stderr
    for node in (a, b):
        init = node.iti.json(
            "node",
            "init",
            "--country",
            node.country,
            "--url",
            node.url,
            "--contact",
            f"poc@{node.country}.example",
        )
        assert init["country"] == node.country
        node.iti("node", "export-entry", "-o", str(tmp_path / f"{node.country}.json"))
    assert (
        "already" in a.iti("node", "init", "--country", "KE", "--url", a.url, "--contact", "x", code=5).stderr
    )
    # Import needs the fingerprint the other PoC read out.
    refused = a.iti("peer", "import", str(tmp_path / "UG.json"), code=3)
    assert "--fingerprint" in refused.stderr
    ug_kid = b.iti.json("node", "show")["key_id"]
    ke_kid = a.iti.json("node", "show")["key_id"]
    assert a.iti("peer", "import", str(tmp_path / "UG.json"), "--fingerprint", ke_kid, code=3)
    a.iti("peer", "import", str(tmp_path / "UG.json"), "--fingerprint", ug_kid)
    b.iti("peer", "import", str(tmp_path / "KE.json"), "--fingerprint", ke_kid)
    assert [p["country"] for p in a.iti.json("peer", "list")] == ["UG"]

    # B is down: the ping stays queued and says why.
    down = a.iti.json("peer", "ping", "UG", code=1)
    assert down["status"] == "pending"
    assert "ConnectError" in down["last_error"]
    b.serve()
    sent = a.iti.json("outbox", "deliver", down["id"])
    assert sent["delivered"] == [down["id"]]
    assert a.iti.json("peer", "ping", "UGA")["status"] == "delivered"
    received = b.iti.json("inbox", "list", "--kind", "federation.ping")
    assert len(received) == 2
    assert {m["from_country"] for m in received} == {"KE"}
    assert [m["status"] for m in a.iti.json("outbox", "list", "--status", "delivered")] == ["delivered"] * 2
    # The public entry is served by the node itself.
    assert httpx.get(b.url + "/api/v1/federation/node", timeout=5).json()["key_id"] == ug_kid

    # Kenya rotates its key; Uganda imports the hand-over (signed by the old key: no fingerprint needed).
    rotated = a.iti.json("node", "rotate-key", "-o", str(tmp_path / "handover.json"))
    assert rotated["old_key_id"] == ke_kid
    b.iti("peer", "import", str(tmp_path / "handover.json"))
    b.iti("peer", "remove", ke_kid)
    assert a.iti.json("peer", "ping", "UG")["status"] == "delivered"

    # Removing the peer on B: A's next message is refused by signature and stays queued for retry.
    b.iti("peer", "remove", rotated["key_id"])
    refused_ping = a.iti.json("peer", "ping", "UG", code=1)
    assert "unknown_sender" in refused_ping["last_error"]
    assert b.iti("audit", "verify").returncode == 0
    assert a.iti("audit", "verify").returncode == 0
    assert os.path.exists(tmp_path / "KE" / "var" / "keys" / "federation-signing.pem")
    assert json.loads((tmp_path / "KE.json").read_text())["key_id"] == ke_kid
    assert len(list((tmp_path / "KE" / "var" / "keys").glob("federation-signing.retired-*.pem"))) == 1
