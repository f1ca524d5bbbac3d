"""List the tools, or run one on an image.

    python -m gpt4tools.tools                                   # key, name, backend, weights here?, device
    python -m gpt4tools.tools --run Image2Canny --image photo.jpg
    python -m gpt4tools.tools --run VisualQuestionAnswering --image photo.jpg --text "what is in it?"
    python -m gpt4tools.tools --profile --device cuda:0            # load time, memory, first call per tool
    python -m gpt4tools.tools --set tool_backends.device=cuda:0 --set tool_backends.weights.sd15=/models/sd15 ...

Weights and devices come from the ``tool_backends`` config group (``--set`` takes Hydra overrides).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from gpt4tools.tools.errors import ImageFileError, ToolError
from gpt4tools.tools.registry import build_tools
from gpt4tools.tools.workspace import Workspace, open_image_file
from gpt4tools.utils.errors import EXIT_CODE, cli_errors, report
from gpt4tools.utils.files import require_file

log = logging.getLogger("gpt4tools.tools")


def _backends_cfg(overrides: list[str]):
    from gpt4tools.utils.config import compose

    cfg = compose("infer", overrides, output_dir=tempfile.gettempdir())
    return cfg.tool_backends


def image_file(path: Path) -> Path:
    """``--image``, resolved; refused when it is not a regular file (a folder, a device such as /dev/zero ...).

    Raises:
        ImageFileError: naming the path and what it is.
    """
    return require_file(path, "--image", "give an image file (PNG, JPEG, ...)", ImageFileError).resolve()


def list_tools(tools, console, verbose: bool = False) -> None:
    """Print the tool table: key, name, split, backend, whether its weights are here (and which are not), device."""
    from rich.table import Table

    table = Table(title="gpt4tools visual tools")
    table.add_column("key", no_wrap=True)
    for col in ("name", "split", "backend", "weights here", "device"):
        table.add_column(col, overflow="fold")
    for key, tool in tools.items():
        ok, note = tool.weights_available()
        missing = [info.name for info, where, _ in tool.weight_status() if where is None]
        if verbose:
            here = ("yes" if ok else "no") + f" - {note}"
        elif ok:
            here = "yes" + (" (fallback)" if missing else "")
        else:
            here = "no: " + ", ".join(missing or [info.name for info in tool.weight_infos])
        table.add_row(key, tool.spec.name, tool.spec.split, tool.backend, here, tool.device)
    console.print(table)


def profile(tools, workspace: Workspace, image: Path | None, console) -> int:
    """Load and call each tool once (on ``image`` or a scikit-image photo); print time and memory."""
    from PIL import Image
    from rich.table import Table

    from gpt4tools.tools.profiling import profile_tool

    if image is None:
        from skimage import data

        upload = Image.fromarray(data.astronaut())
    else:
        upload = open_image_file(image_file(image), workspace.max_bytes, workspace.max_pixels)
    sample = workspace.relative(workspace.save_upload(upload, "sample"))
    table = Table(title=f"tool load / first call on {sample}")
    for col in ("key", "device", "load s", "call s", "memory MB", "note"):
        table.add_column(col)
    for tool in tools.values():
        p = profile_tool(tool, sample)

        def fmt(v, spec=".2f"):
            return "-" if v is None else format(v, spec)

        table.add_row(p.key, p.device, fmt(p.load_s), fmt(p.call_s), fmt(p.memory_mb, ".0f"), p.note)
    console.print(table)
    return 0


@cli_errors
def main(argv: list[str] | None = None) -> int:
    """List the tools, profile them, or run one (see the module's docstring); returns the exit status: 2 when the
    tool fails. Any other named error (a bad image, missing weights) ends it with one line on stderr and status 2."""
    parser = argparse.ArgumentParser(prog="python -m gpt4tools.tools", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", metavar="KEY", help="catalog key (or tool name) to run")
    parser.add_argument("--image", type=Path, help="input image (copied into the workspace)")
    parser.add_argument("--text", help="the text argument(s), joined to the image path with ', '")
    parser.add_argument("--workspace", type=Path, help="workspace directory (default: a temporary one)")
    parser.add_argument("--device", help="device for the tool (cpu, cuda:0)")
    parser.add_argument("--profile", action="store_true",
                        help="load and call each tool whose weights are here (or --run KEY); report time and memory")
    parser.add_argument("--verbose", action="store_true", help="list where each weight was looked for")
    parser.add_argument("--set", action="append", default=[], metavar="OVERRIDE",
                        help="Hydra override of the infer config, e.g. tool_backends.weights.sd15=/models/sd15")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from rich.console import Console

    console = Console(width=None if sys.stdout.isatty() else 200)
    overrides = list(args.set) + ([f"tool_backends.device={args.device}"] if args.device else [])
    cfg = _backends_cfg(overrides)
    root = args.workspace or Path(tempfile.mkdtemp(prefix="gpt4tools-ws-"))
    workspace = Workspace(root)
    if args.profile:
        return profile(build_tools([args.run] if args.run else None, workspace, cfg), workspace, args.image, console)
    if not args.run:
        list_tools(build_tools(None, workspace, cfg), console, args.verbose)
        return 0
    tool = next(iter(build_tools([args.run], workspace, cfg).values()))
    parts: list[str] = []
    if tool.spec.needs_image:
        if args.image is None:
            parser.error(f"{tool.key} needs --image")
        upload = open_image_file(image_file(args.image), workspace.max_bytes, workspace.max_pixels)
        saved = workspace.save_upload(upload, args.image.stem, resize=False)
        parts.append(workspace.relative(saved))
    if args.text:
        parts.append(args.text)
    try:
        observation = tool(", ".join(parts))
    except ToolError as err:  # the tool ran and failed: reported as every named error, status returned
        report(err)
        return EXIT_CODE
    console.print(f"Observation: {observation}")
    produced = workspace.root / observation
    if produced.is_file():
        console.print(f"Saved at: {produced}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
