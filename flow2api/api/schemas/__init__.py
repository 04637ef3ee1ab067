"""Typed request models, one per surface (pydantic), parsed once by the route stage into ``state.request``.

Modules::

    base     reading a body (JSON strictly, forms laxly), errors naming ``param``, resolver-hint fields
    sizes    the ``size`` values each model accepts (Images, Videos)
    chat     ChatCompletionRequest        POST /v1/chat/completions
    images   ImageGenerationRequest, ImageEditRequest   POST /v1/images/generations, /v1/images/edits
    videos   VideoCreateRequest           POST /v1/videos
    video_edits  VideoRemixRequest, VideoEditRequest, VideoExtendRequest
                                          POST /v1/videos/{id}/remix, /v1/videos/edits, /v1/videos/extensions
    gemini   GenerateContentRequest       POST /v1beta/models/{model}:generateContent (and :stream…)

Each model exposes what the route stage resolves with (``model``, ``hints()``,
``image_header()``, ``check_resolved``) and what its handler needs (prompt,
input image URLs and uploads, options). What is validated, and how, is listed
in ``docs/api.md`` ("Validation").
"""

from flow2api.api.schemas.chat import ChatCompletionRequest
from flow2api.api.schemas.gemini import GenerateContentRequest
from flow2api.api.schemas.images import ImageEditRequest, ImageGenerationRequest
from flow2api.api.schemas.videos import VideoCreateRequest

__all__ = [
    "ChatCompletionRequest", "GenerateContentRequest", "ImageEditRequest", "ImageGenerationRequest",
    "VideoCreateRequest",
]
