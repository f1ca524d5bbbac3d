"""The teacher interface and the instruction prompt a teacher LLM receives (the original's wording and form)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from gpt4tools.catalog import CATALOG

TEACHER_PROMPT = """Given an image whose image_path is "example.jpg". Image caption: "{caption}".
The image caption includes detail image description and each object paired with the bounding box [x1, y1, x2, y2]. For the bounding box, (x1, y1) refers to the top left, and (x2, y2) refers to the bottom right. x1 less than x2, and y1 less than y2.

Below are {n} visual tools. Each tool is defined as "tool_name: usage scenario, and arguments_to_tool".

Please generate {per_tool} visual instructions for each tools, so you need to generate {total} visual instruction in total.
The generated instructions should follow the format of "instruction_content, [tool_name, arguments_to_tool]". Each instruction must relate to the caption and can be solved by the tool.
You can not revise the "tool_name", or add any other fake tools that is not defined. You must keep the correct "arguments_to_tool".

Tools:
{tools}

Note that your generated visual instructions should be related to the image caption extremely. Please generate complex and deceptive instructions as much as possible.
Directly reply to me with the list."""


@dataclass(frozen=True)
class TeacherRequest:
    """One teacher call: a caption and the tools to write instructions for."""

    image_id: str
    caption: str
    tools: tuple[str, ...]  # catalog keys
    per_tool: int = 1
    sample: int = 0  # distinguishes repeated requests for the same caption
    split: str = ""  # the split the reply is for (not part of the prompt; the offline teacher may use it)

    def prompt(self) -> str:
        """The instruction prompt in the original's form (numbered ``name: description`` tool list)."""
        lines = [f"{i}. {CATALOG[k].name}: {CATALOG[k].description}" for i, k in enumerate(self.tools, 1)]
        return TEACHER_PROMPT.format(caption=self.caption, n=len(self.tools), per_tool=self.per_tool,
                                     total=len(self.tools) * self.per_tool, tools="\n".join(lines))

    def messages(self) -> list[dict]:
        """Chat messages for an OpenAI-style endpoint (one system message, as the original sends)."""
        return [{"role": "system", "content": self.prompt()}]


class Teacher(ABC):
    """Turns caption requests into raw replies (numbered ``instruction, [tool_name, arguments]`` lines)."""

    name: str = "teacher"

    @abstractmethod
    def complete(self, requests: Sequence[TeacherRequest]) -> list[str]:
        """One raw reply per request, in order."""

    def usage_summary(self) -> dict:
        """Token and call counts of the last ``complete`` (teachers without a meter return {})."""
        return {}
