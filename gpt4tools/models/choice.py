"""Which base model generates: the one an adapter was trained on, the one given, or the default.

An adapter folder of ours records its base (``train_config.yaml``'s ``model`` node), so ``evaluate.py adapter=DIR``
and ``infer.py adapter=DIR`` need no ``model=``. A ``model=`` given next to such an adapter must name the same base;
any other gives :class:`AdapterMismatchError` before a weight is loaded (and an adapter whose tensors do not fit
the loaded base gives it at load time). Nothing ever falls back silently to the base model without its adapter.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from gpt4tools.utils.config import CONFIG_DIR
from gpt4tools.utils.errors import ConfigError, Gpt4ToolsError

DEFAULT_MODEL = "smollm2_135m"
"""The base model when neither an adapter nor ``model=`` names one (``conf/model/smollm2_135m.yaml``)."""


class AdapterMismatchError(Gpt4ToolsError, ValueError):
    """An adapter and a base model that do not belong together; the message names both."""


def model_config(name: str) -> DictConfig:
    """The ``conf/model/<name>.yaml`` node."""
    path = CONFIG_DIR / "model" / f"{name}.yaml"
    if not path.is_file():
        choices = ", ".join(sorted(p.stem for p in path.parent.glob("*.yaml")))
        raise ConfigError(f"model={name}: no such model config ({path.relative_to(CONFIG_DIR.parent)} does not "
                          f"exist); choose one of {choices}")
    return OmegaConf.load(path)


def _name(node: Mapping[str, Any]) -> str:
    return str(node.get("name", "?"))


def check_adapter_base(model_cfg: Mapping[str, Any], adapter: str | Path | None) -> None:
    """Refuse an adapter of ours that was trained on another base than ``model_cfg`` (compared by model name), and
    any adapter whose tensors do not fit ``model_cfg``'s layers (:func:`check_adapter_shapes`); nothing is loaded.

    Raises:
        AdapterMismatchError: naming the adapter, the base it records (or the tensors that do not fit) and the
            model given.
    """
    from gpt4tools.training.export import adapter_base_model

    recorded = adapter_base_model(adapter) if adapter is not None else None
    if recorded is not None and _name(recorded) != _name(model_cfg):
        raise AdapterMismatchError(
            f"adapter {adapter} was trained on model {_name(recorded)}, but model={_name(model_cfg)} was given: "
            f"leave model= out (the adapter names its base) or pass model={_name(recorded)}")
    if adapter is not None:
        check_adapter_shapes(model_cfg, adapter)


def check_adapter_shapes(model_cfg: Mapping[str, Any], adapter: str | Path) -> None:
    """Refuse an adapter whose LoRA tensors do not fit ``model_cfg``'s layers, before any weight loads (the
    adapter's safetensors header against the base's architecture built on the meta device). Adapters stored as
    ``.bin`` and bases whose architecture is not at hand without loading are checked when the adapter attaches.

    Raises:
        AdapterMismatchError: naming the adapter, the model and the first tensor that does not fit.
    """
    from gpt4tools.models.fit import adapter_misfits

    examples, bad, total = adapter_misfits(model_cfg, adapter)
    if bad:
        from gpt4tools.training.export import adapter_base_model, adapter_base_path

        recorded = adapter_base_model(adapter)
        if recorded is not None:
            trained_on = _name(recorded)
            fix = "leave model= and model.* overrides out (the adapter records its base)"
        else:
            trained_on = adapter_base_path(adapter) or "an unrecorded base"
            fix = "pass the model= it was trained on"
        raise AdapterMismatchError(f"adapter {adapter} (trained on {trained_on}) does not fit model "
                                   f"{_name(model_cfg)}: {bad} of its {total} LoRA tensors do not match its layers "
                                   f"(e.g. {'; '.join(examples)}): {fix}")


def check_adapter_folder(adapter: str | Path) -> None:
    """Refuse an ``adapter`` that is not a peft adapter folder (no ``adapter_config.json`` in it).

    Raises:
        ConfigError: naming the path and what it is.
    """
    from gpt4tools.utils.files import not_a_file

    path = Path(adapter)
    if (path / "adapter_config.json").is_file():
        return
    kind = not_a_file(path)
    what = {None: "is a file", "is a directory": "has no adapter_config.json"}.get(kind, kind)
    raise ConfigError(f"adapter={adapter} {what}: give a peft adapter folder (train.py writes <run>/adapter)")


def base_model_for(adapter: str | Path | None, given: Mapping[str, Any] | None = None) -> DictConfig:
    """The ``model`` node to load for ``adapter``: the given one (checked against the adapter), else the one the
    adapter records, else - without an adapter - :data:`DEFAULT_MODEL`.

    Raises:
        AdapterMismatchError: ``given`` is another base than the adapter's.
        ConfigError: ``adapter`` is not a peft adapter folder, or it does not record its base (a released one) and
            no ``given`` model.
    """
    if adapter is not None:
        check_adapter_folder(adapter)
    if given is not None:
        check_adapter_base(given, adapter)
        return given if isinstance(given, DictConfig) else OmegaConf.create(dict(given))
    if adapter is None:
        return model_config(DEFAULT_MODEL)
    from gpt4tools.training.export import adapter_base_model, adapter_base_path

    recorded = adapter_base_model(adapter)
    if recorded is None:
        peft_base = adapter_base_path(adapter)
        raise ConfigError(f"adapter {adapter} does not record its base model (no train_config.yaml"
                         + (f"; peft names {peft_base}" if peft_base else "") + "): name it with model=<conf/model name>")
    return recorded


def attach_adapter(model: Any, adapter: str | Path, model_cfg: Mapping[str, Any]) -> Any:
    """``model`` with the peft adapter folder attached (:func:`gpt4tools.training.export.load_adapter`).

    Raises:
        AdapterMismatchError: the adapter's tensors or target modules do not fit ``model`` (another base).
    """
    from gpt4tools.training.export import adapter_base_model, adapter_base_path, load_adapter

    try:
        return load_adapter(model, adapter)
    except (RuntimeError, ValueError) as err:
        recorded = adapter_base_model(adapter)
        trained_on = _name(recorded) if recorded is not None else adapter_base_path(adapter) or "an unrecorded base"
        lines = [line.strip() for line in str(err).splitlines() if line.strip()] or [type(err).__name__]
        detail = next((line for line in lines if "mismatch" in line or "not found" in line), lines[0])
        raise AdapterMismatchError(f"adapter {adapter} (trained on {trained_on}) does not fit model "
                                   f"{_name(model_cfg)}: {detail}") from err
