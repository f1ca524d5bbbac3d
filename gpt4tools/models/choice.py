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

DEFAULT_MODEL = "smollm2_135m"
"""The base model when neither an adapter nor ``model=`` names one (``conf/model/smollm2_135m.yaml``)."""


class AdapterMismatchError(ValueError):
    """An adapter and a base model that do not belong together; the message names both."""


def model_config(name: str) -> DictConfig:
    """The ``conf/model/<name>.yaml`` node."""
    path = CONFIG_DIR / "model" / f"{name}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no model config {name!r} ({path.relative_to(CONFIG_DIR.parent)} does not exist)")
    return OmegaConf.load(path)


def _name(node: Mapping[str, Any]) -> str:
    return str(node.get("name", "?"))


def check_adapter_base(model_cfg: Mapping[str, Any], adapter: str | Path | None) -> None:
    """Refuse an adapter of ours that was trained on another base than ``model_cfg`` (compared by model name).

    Raises:
        AdapterMismatchError: naming the adapter, the base it records and the model given.
    """
    from gpt4tools.training.export import adapter_base_model

    recorded = adapter_base_model(adapter) if adapter is not None else None
    if recorded is not None and _name(recorded) != _name(model_cfg):
        raise AdapterMismatchError(
            f"adapter {adapter} was trained on model {_name(recorded)}, but model={_name(model_cfg)} was given: "
            f"leave model= out (the adapter names its base) or pass model={_name(recorded)}")


def base_model_for(adapter: str | Path | None, given: Mapping[str, Any] | None = None) -> DictConfig:
    """The ``model`` node to load for ``adapter``: the given one (checked against the adapter), else the one the
    adapter records, else - without an adapter - :data:`DEFAULT_MODEL`.

    Raises:
        AdapterMismatchError: ``given`` is another base than the adapter's.
        ValueError: an adapter that does not record its base (a released one) and no ``given`` model.
    """
    if given is not None:
        check_adapter_base(given, adapter)
        return given if isinstance(given, DictConfig) else OmegaConf.create(dict(given))
    if adapter is None:
        return model_config(DEFAULT_MODEL)
    from gpt4tools.training.export import adapter_base_model, adapter_base_path

    recorded = adapter_base_model(adapter)
    if recorded is None:
        peft_base = adapter_base_path(adapter)
        raise ValueError(f"adapter {adapter} does not record its base model (no train_config.yaml"
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
