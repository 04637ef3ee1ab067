"""Emulator configuration: its settings model and the wire constants the spec fixes.

Constants: the reCAPTCHA site key (spec §2.5, §8), the build label and ``f.sid`` shapes
(§1, §2.5), the cookie names of a signed-in Google session (§2.3) and the content host key name
(§6.5). `EmulatorSettings` holds every knob; EMULATOR.md documents them.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict, Field

SITE_KEY: Final = "6LdsFiUsAAAAAIjVDZcuLhaHiDn5nnHVXVRQGeMV"
BUILD_LABEL: Final = "boq_labs-ai-sandbox-frontend_20261002.00_p0"
CDN_KEY_NAME: Final = "labs-flow-prod-cdn-key"
#: Google SSO cookies (``.google.com``) and the Flow app-session cookies (``flow.google.com``), spec §2.3.
SSO_COOKIES: Final = ("SID", "HSID", "SSID", "APISID", "SAPISID", "__Secure-1PSID", "__Secure-3PSID",
                      "__Secure-1PSIDTS", "__Secure-3PSIDTS")
APP_COOKIES: Final = ("OSID", "__Secure-OSID")
#: Which cookies identify the account (rotating ``*PSIDTS`` ones do not).
IDENTITY_SSO: Final = ("SID", "HSID", "SSID", "APISID", "SAPISID", "__Secure-1PSID", "__Secure-3PSID")
#: The hostname cookie exports name (the emulator answers on loopback but cookies are Google's).
FLOW_HOST: Final = "flow.google.com"


class EmulatorSettings(BaseModel):
    """Every knob of the flow.google.com emulator; defaults keep tests fast. Durations in seconds.

    Read live, so a test may change a field between calls.
    """

    model_config = ConfigDict(extra="forbid")

    video_polls_to_finish: int = Field(2, ge=1)
    """``jwpduf`` calls naming a video until it reports status 3 (6 → 2 → 3)."""
    url_delay_reads: int = Field(0, ge=0)
    """``as29s`` reads after status 3 that still answer the bare id before the signed URL exists (spec §6.1)."""
    xsrf_lifetime_s: float = Field(3600.0, gt=0)
    """An ``at`` older than this is stale: HTTP 400 + ``["xsrf", <new>]``."""
    token_ttl_s: float = Field(120.0, gt=0)
    """reCAPTCHA token lifetime from minting."""
    captcha_polls_to_ready: int = Field(0, ge=0)
    """Solver ``getTaskResult`` calls answering ``processing`` first."""
    solver_client_key: str = "flowweb-emulator-solver-key"
    image_size: int = Field(256, ge=16, le=4096)
    """Long edge of generated images in pixels."""
    image_latency_s: float = Field(0.0, ge=0)
    """How long ``ogiZ0b`` holds the request open (the real one: 20–40 s, spec §5.1)."""
    content_url_ttl_s: float = Field(3600.0, gt=0)
    """Lifetime of signed content URLs."""
    require_same_domain: bool = True
    """Require ``X-Same-Domain: 1`` on batchexecute (the web app sends it, spec §2.2)."""
    upload_granularity: int = Field(1_048_576, ge=1)
    """``X-Goog-Upload-Chunk-Granularity`` of the video upload: non-final chunks are multiples of it (spec §14.2)."""
    extend_key: str = Field("veo_3_1_extend_lite", min_length=1)
    """Model key of the "Extend (Veo 3.1 - Lite)" usage the ``HTrJv`` catalogue lists (real clients read it from
    there, spec §5.7, §10): a test may rename it to check that a client does not hard-code it."""
    fault_seed: int = 0
    max_recorded: int = Field(10_000, ge=1)
