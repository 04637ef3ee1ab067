"""``deploy/compose.yaml`` and ``deploy/nginx.conf``: every flow2api setting the compose file sets is a valid key
with the multi-instance backends (issue 17 item 6), each instance has its own id and the same secrets key, and nginx
streams instead of buffering. Docker is not run here: the environment is fed to :func:`load_settings`."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from cryptography.fernet import Fernet

from flow2api.settings import load_settings
from flow2api.testing import REPO

DEPLOY = REPO / "deploy"
VARIABLE = re.compile(r"\$\{(\w+)(?::[?-]([^}]*))?\}")


def interpolate(value: str, given: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:?message}`` and ``${VAR:-default}``, with ``given`` as the shell's variables."""
    return VARIABLE.sub(lambda m: given.get(m.group(1), m.group(2) or ""), value)


def test_each_instance_loads_valid_multi_instance_settings(tmp_path: Path) -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    shell = {"FLOW2API_API_KEY": "sk-deploy-test-0123456789", "FLOW2API_SECRET_KEY": Fernet.generate_key().decode(),
             "POSTGRES_PASSWORD": "pg-secret", "MINIO_ROOT_PASSWORD": "minio-secret"}
    empty = tmp_path / "empty.toml"
    empty.write_text("", encoding="utf-8")  # only the compose environment counts
    loaded = {}
    for name in ("flow2api-a", "flow2api-b"):
        env = {k: interpolate(str(v), shell) for k, v in compose["services"][name]["environment"].items()}
        assert all(k.startswith("FLOW2API_") for k in env)
        loaded[name] = load_settings(empty, environ=env)
    a, b = loaded["flow2api-a"], loaded["flow2api-b"]
    assert a.storage.url.startswith("postgresql://flow2api:pg-secret@postgres:5432/")
    assert a.coordination.redis_url.get_secret_value() == "redis://redis:6379/0"
    assert a.cache.backend == "s3" and a.cache.s3_endpoint_url == "http://minio:9000"
    assert a.server.host == "0.0.0.0" and a.demo.auto is False
    assert a.storage.secret_key == b.storage.secret_key and a.server.instance_id != b.server.instance_id
    nginx = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    assert "proxy_buffering off;" in nginx and "proxy_request_buffering off;" in nginx
    assert all(f"server {name}:8000" in nginx for name in loaded)
