"""Public HTTP surfaces: OpenAI (``/v1``), media, health. Each module registers its own routes."""
