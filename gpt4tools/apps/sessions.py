"""The API's conversations with the agent: each one's history, its corner of the workspace and the images it may fetch.

A session's uploads go to ``image/<session>/`` and the tools write their results next to their input, so a
session's images stay in its folder; the session's view of the workspace refuses every other session's folder,
whatever path the model writes. ``GET /v1/files`` serves a session only the images it uploaded or the agent
produced for it (an allow-list), never the turn log or any other file of the workspace.
"""

from __future__ import annotations

import posixpath
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpt4tools.agent.history import ChatHistory
from gpt4tools.agent.session import new_session_id

SESSION_ID = re.compile(r"[A-Za-z0-9_-]{6,64}")
"""What a session id given by a client may look like (the server makes 12 hex digits)."""

SESSIONS_DIR = "image"
"""The folder, under the workspace root, holding one sub-folder per session."""


class OtherSessionPath(ValueError):
    """A path into another session's folder."""


class SessionWorkspace:
    """One session's view of the agent's workspace.

    Paths stay relative to the shared root (the tools resolve them in the root workspace); uploads are moved to
    ``image/<session>/`` and paths into another session's folder are refused. Everything else is the base's.
    """

    def __init__(self, base: Any, session: str) -> None:
        self.base = base
        self.root = Path(base.root)
        self.sessions_dir = (self.root / SESSIONS_DIR).resolve()
        self.dir = self.sessions_dir / session

    def __getattr__(self, name: str) -> Any:  # max_bytes, max_pixels, new_image_path, ... of the base
        return getattr(self.base, name)

    def resolve(self, path_text: str) -> Path:
        """The base's resolution, refusing paths inside another session's folder.

        Raises:
            OtherSessionPath: the path is in another session's folder (or the base's own error for escapes).
        """
        path = Path(self.base.resolve(path_text))
        inside = path.relative_to(self.sessions_dir).parts if path.is_relative_to(self.sessions_dir) else ()
        if len(inside) > 1 and not path.is_relative_to(self.dir):  # image/<another session>/...
            raise OtherSessionPath(f"{path_text!r} belongs to another conversation")
        return path

    def relative(self, path: Path) -> str:
        return self.base.relative(path)

    def save_upload(self, image: Any, name: str | None = None) -> Path:
        """Save an upload as the base does, then move it into this session's folder."""
        saved = Path(self.base.save_upload(image, name))
        self.dir.mkdir(parents=True, exist_ok=True)
        target = self.dir / saved.name
        saved.replace(target)
        return target


@dataclass
class Session:
    """One conversation: its history and the workspace images it may fetch."""

    id: str
    history: ChatHistory
    images: set[str] = field(default_factory=set)


class SessionStore:
    """The conversations of ``/v1/agent``, the least recently used forgotten past ``max_sessions``."""

    def __init__(self, max_sessions: int = 256, history_turns: int = 5) -> None:
        self.max_sessions = int(max_sessions)
        self.history_turns = int(history_turns)
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def open(self, session_id: str | None = None) -> Session:
        """The session ``session_id`` (created when new; a fresh id when None).

        Raises:
            ValueError: an id that is not 6-64 letters, digits, ``-`` or ``_``.
        """
        if session_id is None:
            session_id = new_session_id()
        elif not SESSION_ID.fullmatch(session_id):
            raise ValueError("session must be 6 to 64 letters, digits, '-' or '_'")
        with self._lock:
            session = self._sessions.pop(session_id, None) or Session(session_id, ChatHistory(self.history_turns))
            self._sessions[session_id] = session
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        return session

    def get(self, session_id: str) -> Session | None:
        """The session ``session_id`` if it is kept, else None."""
        with self._lock:
            return self._sessions.get(session_id)

    def allows(self, session_id: str, path: str) -> bool:
        """Whether ``path`` (workspace-relative) is an image the session uploaded or the agent produced for it."""
        session = self.get(session_id)
        return session is not None and posixpath.normpath(path) in session.images
