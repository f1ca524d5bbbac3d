"""Talk to the tuned model about an image and watch it use tools.

    python infer.py                                               # one shot on the bundled sample photo, offline
    python infer.py image=photo.jpg prompt="segment the dog"     # one shot
    python infer.py app=chat                                      # chat in the terminal
    python infer.py app=web | app=api                             # Gradio UI | OpenAI-compatible API
"""

import hydra
from omegaconf import DictConfig

import gpt4tools  # noqa: F401
from gpt4tools.utils.errors import cli_errors


@hydra.main(version_base="1.3", config_path="conf", config_name="infer")
@cli_errors
def main(cfg: DictConfig) -> None:
    from gpt4tools.agent.run import run
    from gpt4tools.utils.files import require_file

    if cfg.get("image"):  # a folder or a device is refused before the model loads
        require_file(cfg.image, "image", "give an image file (PNG, JPEG, ...)")
    run(cfg)


if __name__ == "__main__":
    main()
