"""The only modules of the notifier that talk to NATS, MongoDB, HTTP and SMTP."""
