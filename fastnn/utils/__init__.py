"""Small helpers shared across fastnn (naming, validation, progress display)."""
