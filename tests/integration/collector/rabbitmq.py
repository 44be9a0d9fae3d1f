"""A throwaway RabbitMQ node for the tests: its own ports, node name, data and logs.

Started from the ``rabbitmq-server`` on PATH (Debian's wrapper switches to the rabbitmq user,
so its real script is used when present) with no plugins and no configuration of the machine;
its epmd runs on a port of its own and is stopped with the node.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import uuid
from pathlib import Path

from tasktrail_devstack.servers import HOST, EmbeddedServer, free_port

DEBIAN_SCRIPT = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


def rabbitmq_binary() -> str | None:
    found = shutil.which("rabbitmq-server")
    if found is None:
        return None
    return str(DEBIAN_SCRIPT) if DEBIAN_SCRIPT.is_file() else found


class RabbitMQServer(EmbeddedServer):
    name = "rabbitmq"
    start_attempts = 1

    def __init__(self, data_dir: Path, **kwargs: object) -> None:
        super().__init__(data_dir, start_timeout=90.0, **kwargs)  # type: ignore[arg-type]
        self.node = f"tt{uuid.uuid4().hex[:8]}@localhost"
        self.dist_port = free_port()
        self.epmd_port = free_port()

    def env(self, port: int) -> dict[str, str]:
        plugins = self.data_dir / "enabled_plugins"
        plugins.write_text("[].\n")
        return {
            "HOME": str(self.data_dir),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": HOST,
            "RABBITMQ_NODE_PORT": str(port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": HOST,
            "RABBITMQ_MNESIA_BASE": str(self.data_dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.data_dir / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(plugins),
            "RABBITMQ_CONFIG_FILE": str(self.data_dir / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.data_dir / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(self.data_dir / "rabbitmq-env.conf"),
            "RABBITMQ_PID_FILE": str(self.data_dir / "rabbitmq.pid"),
            "PATH": "/usr/lib/rabbitmq/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        }

    def command(self, port: int) -> list[str]:
        binary = rabbitmq_binary()
        assert binary is not None
        return ["/usr/bin/env", "-i", *(f"{k}={v}" for k, v in self.env(port).items()), binary]

    def url_for(self, port: int) -> str:
        return f"amqp://guest:guest@{HOST}:{port}//"

    def ping(self, port: int) -> bool:
        """An AMQP 0-9-1 server answers the protocol header with connection.start."""
        try:
            with socket.create_connection((HOST, port), timeout=1.0) as sock:
                sock.sendall(b"AMQP\x00\x00\x09\x01")
                return sock.recv(8).startswith(b"\x01\x00\x00")
        except OSError:
            return False

    def stop(self, timeout: float = 30.0) -> int | None:
        status = super().stop(timeout)
        epmd = shutil.which("epmd")
        if epmd:  # the node started an epmd on our port; ask it to leave
            subprocess.run(
                [epmd, "-port", str(self.epmd_port), "-kill"],
                capture_output=True,
                timeout=10,
                check=False,
            )
        return status
