"""tasktrail's shared kernel: the event schema every service speaks, settings, adapters."""
