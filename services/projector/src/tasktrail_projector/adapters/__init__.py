"""The only modules that talk to NATS and MongoDB."""
