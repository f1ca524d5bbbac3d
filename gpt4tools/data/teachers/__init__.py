"""Teachers: an OpenAI-compatible endpoint, a local transformers model, the offline template teacher, and replay.

Each ``conf/teacher/*.yaml`` names its class with ``_target_``; ``build_teacher`` instantiates it.
"""

from __future__ import annotations

from gpt4tools.data.teachers.base import Teacher, TeacherRequest
from gpt4tools.data.teachers.config import DEFAULT_TEACHER, build_teacher, teacher_node, teacher_settings

__all__ = ["DEFAULT_TEACHER", "Teacher", "TeacherRequest", "build_teacher", "teacher_node", "teacher_settings"]
