"""The catalog: every module config of a directory, validated together."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from strix_config.apinames import root_field_clashes
from strix_config.errors import ConfigError, ConfigProblem
from strix_config.loader import ModuleFile, read_module_file
from strix_config.model import ModuleConfig
from strix_config.references import check_joins


@dataclass(frozen=True)
class Catalog:
    """Module configs by name, plus a fingerprint that changes when any config changes."""

    modules: dict[str, ModuleConfig]
    sources: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> ModuleConfig | None:
        return self.modules.get(name)

    def names(self) -> list[str]:
        return sorted(self.modules)

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for name in self.names():
            digest.update(self.modules[name].model_dump_json().encode())
        return digest.hexdigest()[:16]


def config_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def load_catalog(directory: Path) -> Catalog:
    """Load every `*.yaml` module config of a directory; raise one ConfigError listing all problems."""
    if not directory.is_dir():
        raise ConfigError([ConfigProblem(str(directory), None, "", "config directory does not exist")])
    modules: dict[str, ModuleConfig] = {}
    sources: dict[str, str] = {}
    read: dict[str, ModuleFile] = {}
    problems: list[ConfigProblem] = []
    files = config_files(directory)
    if not files:
        problems.append(ConfigProblem(str(directory), None, "", "no module configs (*.yaml) in this directory"))
    # Modules whose files have problems, by the name they declare: their own problems are reported, and
    # modules joining them are checked against the dimensions they declare instead of being told "unknown".
    broken: dict[str, frozenset[str] | None] = {}
    for path in files:
        parsed = read_module_file(path)
        problems.extend(parsed.problems)
        config = parsed.config
        if config is None:
            if parsed.name is not None and parsed.name not in modules:
                broken[parsed.name] = parsed.dimensions
            continue
        if config.module in modules:
            problems.append(
                ConfigProblem(
                    str(path), 1, "module", f"module {config.module!r} is also defined in {sources[config.module]}"
                )
            )
            continue
        broken.pop(config.module, None)
        modules[config.module] = config
        sources[config.module] = str(path)
        read[config.module] = parsed
    for module, yaml_path, message in [*check_joins(modules, broken), *root_field_clashes(modules)]:
        line = read[module].line_for(yaml_path)
        problems.append(ConfigProblem(sources[module], line, ".".join(str(p) for p in yaml_path), message))
    if problems:
        raise ConfigError(problems)
    return Catalog(modules=modules, sources=sources)
