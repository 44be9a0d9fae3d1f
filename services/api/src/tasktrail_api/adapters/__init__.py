"""The only modules that talk to MongoDB and NATS."""
