"""What one build of the Dockerfile makes: its stages, with the build arguments substituted as
the builder substitutes them, and the configuration of the resulting image.

dockerfile-parse does the parsing (instructions, continuation lines, comments, quoting, ARG
scopes, variable substitution); this module follows the stages an image is built from.
"""

from __future__ import annotations

import io
import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dockerfile_parse import DockerfileParser
from dockerfile_parse.parser import image_from
from dockerfile_parse.util import WordSplitter, extract_key_values

DOCKERFILE = "Dockerfile"
# Instructions whose arguments the builder substitutes variables in (RUN's shell sees the
# build arguments as variables too). CMD, ENTRYPOINT and HEALTHCHECK run later, in the
# container, so they are kept as written.
SUBSTITUTED = frozenset({"ADD", "COPY", "ENV", "EXPOSE", "LABEL", "RUN", "USER", "WORKDIR"})
_HEALTHCHECK = re.compile(r"^(?:--\S+\s+)*CMD\s+(?P<probe>.+)$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Instruction:
    keyword: str
    value: str
    line: int


@dataclass
class Stage:
    index: int
    name: str | None
    base: str
    instructions: list[Instruction] = field(default_factory=list)


def _substitute(text: str, args: Mapping[str, str], env: Mapping[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` replaced, quotes and escapes kept."""
    words = WordSplitter(text, args=dict(args), envs=dict(env)).split(maxsplit=0, dequote=False)
    return "".join(words)


def pairs(value: str) -> dict[str, str]:
    """``KEY=value ...`` (or the legacy ``KEY value``) of ENV and LABEL."""
    return dict(extract_key_values(False, {}, {}, value))


def read_stages(text: str, build_args: Mapping[str, str]) -> list[Stage]:
    """The stages, each instruction with the variables in its scope substituted (the parser
    resolves FROM lines and ARG scopes; an ARG default naming another ARG is expanded here)."""
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode()), build_args=dict(build_args))
    bases = iter(parser.parent_images)
    scopes = parser.context_structure
    env_before = [{}, *(scope.envs for scope in scopes)]  # what ENV set before each instruction
    stages: list[Stage] = []
    for item, scope, env in zip(parser.structure, scopes, env_before, strict=False):
        keyword, value = item["instruction"], item["value"]
        if keyword == "FROM":
            stages.append(Stage(len(stages), image_from(value)[1], next(bases)))
        elif stages and keyword in SUBSTITUTED:
            args = {key: _substitute(arg, scope.args, {}) for key, arg in scope.args.items()}
            value = _substitute(value, args, env)
        if stages and keyword not in ("FROM", "ARG", "COMMENT"):
            stages[-1].instructions.append(Instruction(keyword, value, item["startline"] + 1))
    return stages


def copy_parts(value: str) -> tuple[dict[str, str], list[str]]:
    """The ``--flag=value`` options and the sources of a COPY or ADD."""
    words = list(WordSplitter(value).split())
    flags: dict[str, str] = {}
    while words and words[0].startswith("--"):
        key, _, flag_value = words.pop(0)[2:].partition("=")
        flags[key] = flag_value
    return flags, words[:-1]


def command_words(value: str) -> tuple[list[str], bool]:
    """The words of CMD or ENTRYPOINT, and whether it is in exec form (no shell in between)."""
    if value.lstrip().startswith("["):
        words = json.loads(value)
        if isinstance(words, list) and all(isinstance(word, str) for word in words):
            return words, True
    return shlex.split(value), False


@dataclass
class Image:
    """The image one build makes: the configuration of its final stage, folded over the stages
    it is built FROM, and every stage it needs (those and the ones it copies from)."""

    build_args: dict[str, str]
    stages: list[Stage] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    healthcheck: str | None = None
    """The probe command, or None when there is none (or HEALTHCHECK NONE)."""
    entrypoint: list[str] = field(default_factory=list)
    command: list[str] = field(default_factory=list)
    exec_form: bool = True
    expose: set[int] = field(default_factory=set)

    @property
    def service(self) -> str:
        return self.build_args.get("SERVICE", "")

    def where(self, line: int | None = None) -> str:
        """How problems name this build: the file, the line if any, the build arguments."""
        args = " ".join(f"{key}={value}" for key, value in sorted(self.build_args.items()))
        return f"{DOCKERFILE}{f':{line}' if line else ''} ({args or 'no build arguments'})"

    def probe(self, variables: Mapping[str, str]) -> str | None:
        """The health check as it runs in a container started with ``variables``: the shell of
        a shell-form probe expands them (the exec form has no shell)."""
        if self.healthcheck is None or self.healthcheck.lstrip().startswith("["):
            return self.healthcheck
        return _substitute(self.healthcheck, {}, variables)

    @property
    def program(self) -> list[str]:
        return self.entrypoint + self.command


def _configure(image: Image, keyword: str, value: str) -> None:
    """Applies one instruction of a stage the image is built from to its configuration."""
    match keyword:
        case "USER":
            image.user = value.strip()
        case "HEALTHCHECK":
            match = _HEALTHCHECK.match(value.strip())
            image.healthcheck = match["probe"] if match else None
        case "CMD":
            image.command, image.exec_form = command_words(value)
        case "ENTRYPOINT":
            image.entrypoint = command_words(value)[0]
        case "EXPOSE":
            image.expose.update(int(word.split("/")[0]) for word in value.split())
        case "ENV":
            image.env.update(pairs(value))


def _chain(final: Stage, by_name: Mapping[str, Stage]) -> list[Stage]:
    """``final`` and the stages it is built FROM, the first base first."""
    chain = [final]
    while chain[-1].base in by_name and len(chain) <= len(by_name):
        chain.append(by_name[chain[-1].base])
    return chain[::-1]


def _needed(chain: list[Stage], by_name: Mapping[str, Stage]) -> list[Stage]:
    """The stages of ``chain`` and, transitively, those they copy from."""
    needed: dict[int, Stage] = {}
    todo = list(chain)
    while todo:
        stage = todo.pop()
        needed[stage.index] = stage
        copied = (copy_parts(i.value)[0].get("from", "") for i in stage.instructions)
        todo.extend(by_name[n] for n in copied if n in by_name and by_name[n].index not in needed)
    return sorted(needed.values(), key=lambda stage: stage.index)


def read_image(path: Path, build_args: Mapping[str, str], target: str | None = None) -> Image:
    """The image ``docker build --build-arg ...`` (and ``--target``) makes from ``path``."""
    stages = read_stages(path.read_text(), build_args)
    by_name = {stage.name: stage for stage in stages if stage.name}
    image = Image(dict(build_args))
    final = by_name.get(target) if target else (stages[-1] if stages else None)
    if final is None:
        return image
    chain = _chain(final, by_name)
    for stage in chain:
        for instruction in stage.instructions:
            _configure(image, instruction.keyword, instruction.value)
    image.stages = _needed(chain, by_name)
    return image
