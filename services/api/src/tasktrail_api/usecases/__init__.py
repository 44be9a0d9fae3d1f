"""The service layer: every use case of the API, called by the REST routes and by any other
entrypoint (the CLI today; web pages and the seed 001/002/003 APIs later).

Use cases take their ports (``usecases.ports``) and raise ``domain.errors``; they import no
web framework and no driver. ``tasktrail_api.bootstrap`` wires them.
"""
