"""The only collector modules that talk to the broker and to NATS."""
