"""The summary of a generated dataset: a table of samples per tool and split, drop reasons, and a plot."""

from __future__ import annotations

from pathlib import Path

from gpt4tools.data.pipeline import SPLITS, GeneratedData, split_stats


def _label(tool: str) -> str:
    return "none (no-tool requests)" if tool == "none" else tool


def summary_tables(data: GeneratedData):
    """Two ``rich`` tables: samples per tool and split, and dropped teacher lines per reason and split."""
    from rich.table import Table

    stats = split_stats(data)
    tools = sorted({t for s in stats.values() for t in s["by_tool"]})
    per_tool = Table(title="samples per tool (chain target) and split")
    per_tool.add_column("tool")
    for split in SPLITS:
        per_tool.add_column(split, justify="right")
    for tool in tools:
        per_tool.add_row(_label(tool), *(str(stats[s]["by_tool"].get(tool, "")) for s in SPLITS))
    per_tool.add_row("[b]total[/b]", *(str(stats[s]["total"]) for s in SPLITS))
    drops = Table(title="teacher lines dropped, by reason")
    drops.add_column("reason")
    for split in SPLITS:
        drops.add_column(split, justify="right")
    reasons = sorted({r for rep in data.reports.values() for r in rep.counts})
    for reason in reasons:
        drops.add_row(reason, *(str(data.reports[s].counts.get(reason, 0)) for s in SPLITS))
    drops.add_row("[b]kept instructions[/b]", *(str(data.reports[s].kept) for s in SPLITS))
    return per_tool, drops


def save_distribution_plot(data: GeneratedData, path: str | Path) -> Path:
    """A horizontal bar chart of samples per tool for each split, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stats = split_stats(data)
    tools = sorted({t for s in stats.values() for t in s["by_tool"]})
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(tools) + 1.5))
    height = 0.8 / len(SPLITS)
    for k, split in enumerate(SPLITS):
        ys = [i + k * height for i in range(len(tools))]
        ax.barh(ys, [stats[split]["by_tool"].get(t, 0) for t in tools], height=height, label=split)
    ax.set_yticks([i + height for i in range(len(tools))], [_label(t) for t in tools], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("samples")
    ax.set_title("samples per tool and split")
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
