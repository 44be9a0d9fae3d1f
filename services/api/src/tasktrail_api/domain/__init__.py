"""What the API knows without any I/O: request and filter models, the query plan, the cursor
codec, the history matcher, write bodies, command bodies and the JSON shapes of answers.

Nothing here imports a driver, a web framework or a clock: the use cases call it with what
the adapters read, and unit tests call it with plain values.
"""
