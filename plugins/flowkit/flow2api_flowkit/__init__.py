"""What both Flow families share: the reCAPTCHA token chain and the emulators' fault and media machinery.

* :mod:`flow2api_flowkit.config` — :class:`CaptchaConfig`, the ``[captcha]`` settings model.
* :mod:`flow2api_flowkit.captcha` — :data:`SITE_KEY`, :class:`CaptchaToken`, the token-source protocol
  and the built-in solver sources.
* :mod:`flow2api_flowkit.captcha_chain` — the source registry (built-ins plus the ``flow2api.captcha``
  entry-point group), the settings check and the failover :class:`TokenChain`.
* :mod:`flow2api_flowkit.emulator` — fault rules and their injector, Pillow images and the bundled MP4s
  the labs.google and flow.google.com emulators serve.

Neither family imports the other; both import this distribution (``flow2api-flowkit``).
"""

from flow2api_flowkit.captcha import SITE_KEY, CaptchaToken, TokenSource
from flow2api_flowkit.captcha_chain import TokenChain, captcha_problems, installed_sources
from flow2api_flowkit.config import CaptchaConfig

__all__ = ["SITE_KEY", "CaptchaConfig", "CaptchaToken", "TokenChain", "TokenSource", "captcha_problems",
           "installed_sources"]
