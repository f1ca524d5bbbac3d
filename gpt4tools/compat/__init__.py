"""Work-arounds for third-party packages, each applied only when needed."""
