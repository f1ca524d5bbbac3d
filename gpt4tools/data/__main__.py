"""``python -m gpt4tools.data``: teacher -> clean -> convert -> splits, written to the Hydra run directory."""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from gpt4tools.utils.config import CONFIG_DIR
from gpt4tools.utils.errors import cli_errors


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="generate_data")
@cli_errors
def main(cfg: DictConfig) -> None:
    """Generate the configured dataset into ``paths.output_dir`` and show its summary."""
    from rich.console import Console

    from gpt4tools.data.pipeline import generate_dataset, write_dataset
    from gpt4tools.data.summary import save_distribution_plot, summary_tables
    from gpt4tools.utils.logging import get_logger

    log = get_logger("gpt4tools.data")
    out = Path(cfg.paths.output_dir)
    data = generate_dataset(cfg)
    paths = write_dataset(data, out, raw=bool(cfg.get("raw", True)))
    console = Console()
    for table in summary_tables(data):
        console.print(table)
    if cfg.get("plot", True):
        log.info("plot: %s", save_distribution_plot(data, out / "tool_distribution.png"))
    if data.usage:
        log.info("teacher usage: %s", data.usage)
    for split, path in paths.items():
        log.info("%s: %s", split, path)
    log.info("drop report: %s", out / "report.json")


if __name__ == "__main__":
    main()
