"""The face: command-line tools and process wiring (what a person or the OS starts)."""
