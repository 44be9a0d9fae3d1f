"""The clients the lifespan opened, handed to routes as ``Annotated`` dependencies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import Depends, Request

from tasktrail_api.adapters.commands import CommandClient
from tasktrail_api.adapters.eventlog import EventLog
from tasktrail_api.adapters.readmodels import ReadModels
from tasktrail_api.dashboard import DashboardCache
from tasktrail_api.settings import Settings


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    read_models: ReadModels
    commands: CommandClient
    event_log: EventLog
    dashboard: DashboardCache


def get_services(request: Request) -> Services:
    return cast(Services, request.app.state.services)


def get_settings(request: Request) -> Settings:
    return get_services(request).settings


def get_read_models(request: Request) -> ReadModels:
    return get_services(request).read_models


def get_commands(request: Request) -> CommandClient:
    return get_services(request).commands


def get_event_log(request: Request) -> EventLog:
    return get_services(request).event_log


def get_dashboard(request: Request) -> DashboardCache:
    return get_services(request).dashboard


SettingsDep = Annotated[Settings, Depends(get_settings)]
ReadModelsDep = Annotated[ReadModels, Depends(get_read_models)]
CommandsDep = Annotated[CommandClient, Depends(get_commands)]
EventLogDep = Annotated[EventLog, Depends(get_event_log)]
DashboardDep = Annotated[DashboardCache, Depends(get_dashboard)]
