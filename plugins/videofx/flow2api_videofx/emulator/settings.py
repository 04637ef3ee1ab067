"""Configuration of the Flow emulator: its settings model, seeded accounts and wire constants.

Owns `EmulatorSettings` (every knob the emulator has), `EmulatorAccount` (an account the
emulator knows, with the session token a client presents) and the constants the spec fixes
(reCAPTCHA site key, project page URL, fallback User-Agent, spec §1.5/§1.6), plus the
documented demo account used by `flow2api demo` and `python -m flow2api_videofx.emulator
--demo-account`.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

PaygateTier = Literal["PAYGATE_TIER_NOT_PAID", "PAYGATE_TIER_ONE", "PAYGATE_TIER_TWO"]
PAYGATE_TIERS: Final = ("PAYGATE_TIER_NOT_PAID", "PAYGATE_TIER_ONE", "PAYGATE_TIER_TWO")

#: reCAPTCHA Enterprise site key of the Flow page (spec §1.6).
RECAPTCHA_SITE_KEY: Final = "6LdsFiUsAAAAAIjVDZcuLhaHiDn5nnHVXVRQGeMV"
#: Browser page of a project; reCAPTCHA ``websiteURL`` is this plus the project id (spec §1.1).
PROJECT_PAGE_PREFIX: Final = "https://labs.google/fx/tools/flow/project/"
#: UA a solver reports when the task carried none (the spec's fallback desktop Chrome UA, §1.5).
DEFAULT_USER_AGENT: Final = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/149.0.0.0 Safari/537.36"
)
#: NextAuth session cookie carrying the ST (spec §1.2).
SESSION_COOKIE: Final = "__Secure-next-auth.session-token"

# A NextAuth ST is a JWE in compact form with "dir"/"A256GCM" and an empty key part.
_JWE_HEADER: Final = "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def generate_session_token() -> str:
    """A fresh random ST shaped like a real NextAuth JWE: ``<hdr>..<iv>.<ciphertext>.<tag>``."""
    return ".".join(
        [_JWE_HEADER, "", _b64url(secrets.token_bytes(12)), _b64url(secrets.token_bytes(480)),
         _b64url(secrets.token_bytes(16))]
    )


#: E-mail of the demo account (``--demo-account``; `flow2api demo`).
DEMO_EMAIL: Final = "demo@flow2api.local"
#: Fixed, documented ST of the demo account. JWE-shaped; its parts decode to readable ASCII.
DEMO_ST: Final = ".".join(
    [_JWE_HEADER, "", _b64url(b"flow2api-demo"),
     _b64url(b"demo session token of the flow2api Flow emulator; not a secret"),
     _b64url(b"demo-tag")]
)


class EmulatorSettings(BaseModel):
    """Every knob of the emulator. Defaults keep tests fast; all durations are in seconds.

    The first eight fields are the public contract; the rest are emulator extensions
    (documented in EMULATOR.md).
    """

    model_config = ConfigDict(extra="forbid")

    at_lifetime_s: float = Field(3600.0, gt=0)
    """AT lifetime: `/auth/session` answers ``expires = now + at_lifetime_s``."""
    video_polls_to_finish: int = Field(3, ge=1)
    """Status calls naming a video before it is terminal (PENDING -> ACTIVE -> SUCCESSFUL, §3.1).
    Also the number of concatenation status calls before SUCCESSFUL."""
    captcha_polls_to_ready: int = Field(1, ge=0)
    """`getTaskResult` calls answering ``processing`` before ``ready``."""
    solver_client_key: str = "emulator-solver-key"
    image_size: int = Field(512, ge=16, le=4096)
    """Long edge in pixels of generated 1K images."""
    response_form: Literal["media", "operations"] = "media"
    """Video create response form (spec §2.8): 2026-05+ ``media``/``workflows`` or legacy ``operations``."""
    token_ttl_s: float = Field(120.0, gt=0)
    """reCAPTCHA token lifetime, counted from the moment the solver reports it ready."""
    web_api_key: str = "emulator-web-api-key"
    """``x-goog-api-key`` accepted by ``:checkAppAvailability`` (spec §2.18)."""

    upload_response_form: Literal["object", "list"] = "object"
    """`flow/uploadImage` answers ``{"media": {...}}`` (object) or ``{"media": [{...}]}`` (list), §2.5."""
    media_url_ttl_s: float = Field(3600.0, gt=0)
    """Lifetime of signed CDN URLs (``fifeUrl``, redirect ``Location``)."""
    fault_seed: int = 0
    """Seed of the `random.Random` deciding probabilistic faults."""
    max_recorded_requests: int = Field(10_000, ge=1)
    """`FlowEmulator.requests` keeps at most this many (oldest dropped first)."""
    max_recorded_body_bytes: int | None = Field(None, ge=0)
    """A recorded request whose body is larger keeps ``json = None`` once answered (the demo: a 25 MB upload is
    not held on to); ``None`` keeps every body."""


@dataclass
class EmulatorAccount:
    """A Google account the emulator knows. ``st`` is the session token a client presents (§1.2).

    ``tier`` is what `/credits` reports as ``userPaygateTier``; ``credits`` decrease with
    every generation (costs in EMULATOR.md).
    """

    email: str
    name: str
    st: str
    tier: str = "PAYGATE_TIER_ONE"
    credits: int = 1000


def demo_account() -> EmulatorAccount:
    """The demo account: `DEMO_EMAIL` / `DEMO_ST`, Ultra tier, ample credits (every model works)."""
    return EmulatorAccount(
        email=DEMO_EMAIL, name="Flow2API Demo", st=DEMO_ST, tier="PAYGATE_TIER_TWO", credits=1_000_000
    )
