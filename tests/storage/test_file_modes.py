"""Files that hold prompts, hashes and results are private: database, WAL and media 0600, data dir 0700
(issue 18, item 14), whatever the umask and even when an older version left them 0644."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from flow2api.media import MEDIA, VIDEO_INPUTS
from flow2api.plugin import InputImage
from flow2api.storage.tasks import TASKS
from flow2api.testing import FakeWorld
from tests.api.conftest import png


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_database_wal_media_and_inputs_are_private(fake: FakeWorld, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        data_dir = tmp_path / "data"
        data_dir.mkdir(mode=0o755)
        os.chmod(data_dir, 0o755)
        gw = await fake.start(storage={"data_dir": str(data_dir)})
        app = gw.app
        await app[TASKS].create("t-1", kind="image", model="m", prompt="a secret prompt", api_key=None)
        small = await app[MEDIA].store_bytes(png(8, 8), "image/png")
        await app[VIDEO_INPUTS].save("t-1", (InputImage(data=png(4, 4), mime_type="image/png"),))
        assert mode(data_dir) == 0o700
        db = data_dir / "flow2api.db"
        for path in (db, db.with_name("flow2api.db-wal"), db.with_name("flow2api.db-shm")):
            assert path.exists() and mode(path) == 0o600, path
        assert mode(data_dir / "media" / small.name) == 0o600
        assert mode(data_dir / "media") == 0o700
        inputs = data_dir / "media" / "inputs" / "t-1"
        assert mode(inputs) == 0o700 and all(mode(f) == 0o600 for f in inputs.iterdir())
    finally:
        os.umask(old)
