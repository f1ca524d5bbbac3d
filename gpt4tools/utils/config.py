"""The config resolvers of this project, and composing the Hydra config tree from code (tests, notebooks)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

CONFIG_DIR = Path(__file__).resolve().parents[2] / "conf"
"""The project's config tree (``conf/`` at the repository root)."""


def compose(config_name: str = "train", overrides: list[str] | None = None, return_hydra_config: bool = False,
            output_dir: str | None = None):
    """Compose ``conf/<config_name>.yaml`` with overrides, outside a Hydra app.

    ``output_dir`` stands in for the Hydra run directory (``paths.output_dir``), which only exists
    inside a running Hydra app.
    """
    overrides = list(overrides or [])
    if output_dir is not None:
        overrides.append(f"paths.output_dir={output_dir}")
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return hydra_compose(config_name, overrides=overrides, return_hydra_config=return_hydra_config)


def register_resolvers() -> None:
    """Register the project's OmegaConf resolvers (idempotent); ``import gpt4tools`` calls it.

    ``${cpu_precision:}``: the precision a CPU trains in (:func:`gpt4tools.utils.machine.cpu_precision`);
    ``${default_device:}``: the device generation runs on (:func:`gpt4tools.inference.resolve_device`);
    ``${native_dtype:DEVICE}``: the dtype generation runs in there (:func:`gpt4tools.inference.inference_dtype`).
    """
    if not OmegaConf.has_resolver("cpu_precision"):
        from gpt4tools.utils.machine import cpu_precision

        OmegaConf.register_new_resolver("cpu_precision", cpu_precision)
    if not OmegaConf.has_resolver("default_device"):
        OmegaConf.register_new_resolver("default_device", _default_device)
    if not OmegaConf.has_resolver("native_dtype"):
        OmegaConf.register_new_resolver("native_dtype", _native_dtype)


def _default_device() -> str:
    from gpt4tools.inference import resolve_device

    return resolve_device("auto")


def _native_dtype(device: str) -> str:
    from gpt4tools.inference import inference_dtype

    return str(inference_dtype("auto", device)).removeprefix("torch.")
