"""Backbone loading: the offline SmolLM2 default, the tiny test model and hub backbones."""

from gpt4tools.models.loading import DTYPES, ModelNotFoundError, load_model, load_tokenizer, resolve_model_dir

__all__ = ["DTYPES", "ModelNotFoundError", "load_model", "load_tokenizer", "resolve_model_dir"]
