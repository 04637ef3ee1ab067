"""The emulator's jIps6 and resumable video upload on their own (spec §14.1–§14.2): as strict as its other RPCs."""

from __future__ import annotations

from typing import Any

import pytest
from yarl import URL
from flowweb_emulator_session import LAYOUT, Clock, Session, clock, emulator, session  # noqa: F401 - fixtures

from flow2api_flowkit.emulator.render import video_asset
from flow2api_flowweb.emulator.edits import UPLOAD_PREFIX

MP4 = video_asset(portrait=False)   # 2.0 s


async def finished_video(session: Session, project: str) -> str:
    submit = await session.payload("YhhmEf", LAYOUT.text_to_video(
        project, model="abra_t2v_4s", aspect_ratio="VIDEO_ASPECT_RATIO_LANDSCAPE", prompt="p", resolution="720p"),
        project=project)
    media = submit[3][0][0][0]
    for _ in range(2):
        await session.payload("jwpduf", LAYOUT.check_status([media]))
    return media


async def upload(session: Session, project: str, data: bytes = MP4, *, headers: dict[str, str] | None = None,
                 cookies: bool = True) -> Any:
    base = {"X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start", "Slug": "clip.mp4",
            "X-Goog-Upload-Header-Content-Length": str(len(data)), "X-Goog-Upload-Header-Content-Type": "video/mp4"}
    if cookies:
        base["Cookie"] = session.cookies
    return await session.http.post(UPLOAD_PREFIX + project, headers={**base, **(headers or {})})


async def chunk(session: Session, url: str, body: bytes, offset: int, command: str) -> Any:
    return await session.http.post(URL(url).path_qs, data=body, headers={
        "Cookie": session.cookies, "X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": command,
        "X-Goog-Upload-Offset": str(offset)})


async def uploaded(session: Session, project: str) -> str:
    start = await upload(session, project)
    final = await chunk(session, start.headers["X-Goog-Upload-URL"], MP4, 0, "upload, finalize")
    assert final.status == 200 and final.headers["X-Goog-Upload-Status"] == "final"
    return (await final.json())["mediaId"]


def edit(project: str, source: str, end: int, *, model: str = "abra_edit", refs: list[str] = (),  # type: ignore[assignment]
         resolution: str = "720p", start: int = 0) -> list[Any]:
    return LAYOUT.edit_video(project, model=model, aspect_ratio="VIDEO_ASPECT_RATIO_PORTRAIT", prompt="snow",
                             source=source, start_frame=start, end_frame=end, references=list(refs),
                             resolution=resolution)  # type: ignore[arg-type]


async def test_an_upload_then_its_edit(session: Session) -> None:
    project = await session.project()
    start = await upload(session, project)
    assert start.status == 200 and await start.read() == b""
    assert start.headers["X-Goog-Upload-Status"] == "active"
    assert start.headers["X-Goog-Upload-Chunk-Granularity"] == "1048576"
    url = start.headers["X-Goog-Upload-URL"]
    assert f"{UPLOAD_PREFIX}{project}?upload_id=" in url
    final = await chunk(session, url, MP4, 0, "upload, finalize")
    answer = await final.json()
    assert answer["mediaId"] == answer["media"]["name"] and answer["media"]["projectId"] == project
    record = await session.payload("as29s", [answer["mediaId"]])
    assert record[5][8] == [1] and record[7][1][2] == [2.0]   # ready, user upload; 2 s long
    credits = session.emulator.account(session.email).credits
    reply = await session.payload("jIps6", edit(project, answer["mediaId"], 48, model="abra_edit_360p",
                                                resolution="360p"), project=project)
    assert reply[3][0][0][5][8] == [6] and session.emulator.account(session.email).credits == credits - 10


async def test_upload_strictness(session: Session) -> None:
    project = await session.project()
    assert (await upload(session, project, cookies=False)).status == 401
    assert (await upload(session, "0b7f3c1e-0000-4000-8000-000000000000")).status == 404
    missing = await upload(session, project, headers={"X-Goog-Upload-Header-Content-Type": "image/png"})
    assert missing.status == 400 and "video type" in missing.headers["X-Emulator-Detail"]
    stale = await upload(session, project, headers={"X-Framework-Xsrf-Token": "old"})
    assert stale.status == 400 and "at" in stale.headers["X-Emulator-Detail"]
    session.emulator.settings.upload_granularity = 1024
    url = (await upload(session, project)).headers["X-Goog-Upload-URL"]
    assert (await chunk(session, url, MP4[:1000], 0, "upload")).status == 400   # not a multiple of 1024
    assert (await chunk(session, url, MP4[:1024], 0, "upload")).status == 200
    assert (await chunk(session, url, MP4[1024:], 0, "upload, finalize")).status == 400   # wrong offset
    assert (await chunk(session, url, MP4[1024:-1], 1024, "upload, finalize")).status == 400   # short
    url = (await upload(session, project, b"\x00" * 64)).headers["X-Goog-Upload-URL"]
    assert (await chunk(session, url, b"\x00" * 64, 0, "upload, finalize")).status == 400   # not an MP4


@pytest.mark.parametrize(("case", "detail"), [
    ("beyond", "frames must be"), ("backwards", "frames must be"), ("no_output_spec", "OutputSpec"),
    ("spec_at_720p", "slots after"), ("trailer_1", "args[2][1] must be 2"), ("two_refs", "at most 1"),
    ("other_project", "another project"),
])
async def test_edit_strictness(session: Session, case: str, detail: str) -> None:
    project = await session.project()
    source = await finished_video(session, project)
    args = {
        "beyond": edit(project, source, 97), "backwards": edit(project, source, 10, start=20),
        "no_output_spec": edit(project, source, 96, model="abra_edit_360p"),
        "spec_at_720p": edit(project, source, 96, resolution="360p"),
        "trailer_1": [*edit(project, source, 96)[:2], [edit(project, source, 96)[2][0], 1]],
    }.get(case)
    if case == "two_refs":
        args = edit(project, source, 96)
        args[0][0] += [None, None, None, [[None, "a"], [None, "b"]]]
    if case == "other_project":
        other = await session.project()
        args = edit(other, source, 96)
        project = other
    reply = await session.payload("jIps6", args, project=project)
    assert reply[0] == "error" and reply[1] == [3] and detail in reply[2]


async def test_edit_checks_ownership_and_the_recaptcha_action(session: Session) -> None:
    project = await session.project()
    source = await finished_video(session, project)
    session.emulator.add_account("mallory@example.com")
    theirs = Session(session.http, session.emulator, "mallory@example.com")
    their_project = await theirs.project()
    reply = await theirs.payload("jIps6", edit(their_project, source, 96), project=their_project)
    assert reply[0] == "error" and reply[1][0] == 5    # another account's media is not found
    token = await session.token(project, "ogiZ0b")   # minted for IMAGE_GENERATION
    reply = await session.payload("jIps6", edit(project, source, 96), project=project, token=token)
    assert reply[0] == "error" and reply[1][0] == 7 and "PUBLIC_ERROR_UNUSUAL_ACTIVITY" in str(reply[1])
    assert (await session.payload("jIps6", edit(project, source, 96), project=project))[3][0][0][0]
