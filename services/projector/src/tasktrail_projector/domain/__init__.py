"""Pure projection logic: events in, read-model documents out. No I/O imports here."""
