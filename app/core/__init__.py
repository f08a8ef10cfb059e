"""Cross-cutting pieces: clock, organisation settings, job queue, time formatting."""
