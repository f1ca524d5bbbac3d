"""gpt4tools: teach a language model to use tools by self-instruction (GPT4Tools)."""

from gpt4tools.compat.torchvision_ops import ensure_torchvision_importable as _ensure_tv
from gpt4tools.utils.config import register_resolvers as _register_resolvers

_ensure_tv()
_register_resolvers()

__version__ = "0.1.0"
