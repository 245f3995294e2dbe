"""One function per command; each is one unit of work."""
