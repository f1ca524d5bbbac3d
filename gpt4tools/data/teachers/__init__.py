"""Teachers: an OpenAI-compatible endpoint, a local transformers model, the offline template teacher, and replay."""

from __future__ import annotations

from gpt4tools.data.teachers.base import Teacher, TeacherRequest

__all__ = ["DEFAULT_TEACHER", "Teacher", "TeacherRequest", "build_teacher"]

DEFAULT_TEACHER = {"kind": "offline", "noise": 0.03, "heldout_templates": 0.0}
"""The teacher used when a config has no ``teacher`` node (training configs): the offline one."""


def build_teacher(teacher_cfg, seed: int = 0, cache_dir: str | None = None) -> Teacher:
    """The teacher a ``teacher/`` config node describes (``kind``: offline, openai, hf_local)."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.to_container(teacher_cfg, resolve=True) if teacher_cfg is not None else {}
    cfg = {**DEFAULT_TEACHER, **cfg} if cfg.get("kind", "offline") == "offline" else cfg
    kind = cfg.pop("kind", "offline")
    if kind == "offline":
        from gpt4tools.data.teachers.offline import OfflineTeacher

        return OfflineTeacher(seed=seed, noise=float(cfg.get("noise", 0.03)),
                              heldout_templates=float(cfg.get("heldout_templates", 0.0)))
    if kind == "openai":
        from gpt4tools.data.teachers.openai_compat import OpenAITeacher

        if cfg.get("cache_dir") is None and cache_dir is not None:
            cfg["cache_dir"] = cache_dir
        return OpenAITeacher(**{k: v for k, v in cfg.items() if v is not None or k == "base_url"})
    if kind == "hf_local":
        from gpt4tools.data.teachers.hf_local import HFTeacher

        model_cfg = OmegaConf.create(cfg.pop("model"))
        if cfg.get("cache_dir") is None and cache_dir is not None:
            cfg["cache_dir"] = cache_dir
        return HFTeacher(model_cfg=model_cfg, seed=seed, **cfg)
    if kind == "replay":
        from gpt4tools.data.teachers.replay import ReplayTeacher

        return ReplayTeacher(cfg["paths"])
    raise ValueError(f"unknown teacher kind {kind!r}: use offline, openai, hf_local or replay")
