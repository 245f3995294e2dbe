"""One function per command; each is one unit of work. What follows every step: engine.services.reactions."""
