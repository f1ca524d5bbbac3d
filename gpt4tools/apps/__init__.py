"""User-facing front ends of the agent: terminal (cli), Gradio web UI (web), OpenAI-compatible server (api)."""
