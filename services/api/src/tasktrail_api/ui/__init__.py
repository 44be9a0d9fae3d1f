"""The web UI: server-rendered pages under ``/ui/`` over the same use cases as the REST
routes, kept live by the projector's change notices pushed over Server-Sent Events.

``session`` signs the login cookie and derives CSRF tokens; ``security`` sets the
Content-Security-Policy and checks Origin and CSRF on every state-changing request;
``present`` turns shown documents into what templates print; ``live`` fans change notices
out to browsers; ``pages`` and ``actions`` are the routes.
"""
