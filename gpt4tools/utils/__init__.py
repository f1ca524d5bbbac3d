"""Small shared helpers (logging, seeding, I/O)."""
