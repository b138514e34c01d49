"""docker-compose.yml and the Dockerfile, checked without a Docker engine: structure, settings, files, users."""

from __future__ import annotations

import importlib.util
import re
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer.main
import yaml
from pydantic import BaseModel

from insight.cli import app as cli_app
from insight.config import Settings
from insight.deploy.topology import COMPOSE_NETWORK, api_service, compose_healthcheck, loopback, services
from insight.llm.local_model import QWEN25_CODER_05B

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
REQUIRED = {"api", "chroma", "mlflow", "llm"}


# --- a small Dockerfile reader --------------------------------------------------------------------------------
@dataclass
class Stage:
    name: str | None
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def read_dockerfile(path: Path) -> list[Stage]:
    text = re.sub(r"\\\n", " ", path.read_text())  # join continuation lines
    stages: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(name=name, base=parts[0]))
        elif stages:
            stages[-1].instructions.append((keyword, args.strip()))
    return stages


def stage(stages: list[Stage], name: str) -> Stage:
    found = [s for s in stages if s.name == name]
    assert found, f"the Dockerfile has no stage {name!r}"
    return found[0]


def env_of(stage_: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for args in stage_.all("ENV"):
        for token in shlex.split(args):
            key, sep, value = token.partition("=")
            assert sep, f"ENV {args!r}: use KEY=value"
            env[key] = value
    return env


def build_of(service: dict[str, Any]) -> dict[str, Any] | None:
    build = service.get("build")
    return {"context": build} if isinstance(build, str) else build


def insight_services() -> dict[str, dict[str, Any]]:
    """Services that run the Insight image (built from the runtime stage)."""
    return {name: s for name, s in SERVICES.items() if (b := build_of(s)) is not None and b.get("target") == "runtime"}


# --- settings resolution --------------------------------------------------------------------------------------
def setting_for(variable: str) -> str:
    """The dotted Settings field an INSIGHT_* variable sets, or an AssertionError naming the unknown part."""
    assert variable.startswith("INSIGHT_"), variable
    parts = variable.removeprefix("INSIGHT_").lower().split("__")
    model: type[BaseModel] = Settings
    for depth, part in enumerate(parts):
        fields = model.model_fields
        assert part in fields, f"{variable}: {'.'.join(parts[: depth + 1])} is not a setting"
        annotation = fields[part].annotation
        if depth < len(parts) - 1:
            assert isinstance(annotation, type) and issubclass(annotation, BaseModel), (
                f"{variable}: {part} has no nested settings"
            )
            model = annotation
        else:
            assert not (isinstance(annotation, type) and issubclass(annotation, BaseModel)), (
                f"{variable} names a group of settings, not one"
            )
    return ".".join(parts)


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key, value in env.items():
        if key.startswith("INSIGHT_"):
            monkeypatch.setenv(key, str(value))
    return Settings(_env_file=None)  # type: ignore[call-arg]


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


# --- the resolver itself must be able to say no ---------------------------------------------------------------
@pytest.mark.parametrize(
    "variable", ["INSIGHT_VECTORSTORE__HOSTNAME", "INSIGHT_NOPE", "INSIGHT_LLM", "INSIGHT_LOG_LEVEL__X"]
)
def test_the_resolver_refuses_what_is_not_a_setting(variable: str) -> None:
    with pytest.raises(AssertionError):
        setting_for(variable)


def test_the_resolver_finds_nested_settings() -> None:
    assert setting_for("INSIGHT_VECTORSTORE__HOST") == "vectorstore.host"
    assert setting_for("INSIGHT_LOG_FORMAT") == "log_format"


# --- compose --------------------------------------------------------------------------------------------------
def test_the_required_services_are_there() -> None:
    assert set(SERVICES) >= REQUIRED
    assert "api" in insight_services()


def test_every_insight_variable_is_a_real_setting() -> None:
    variables = {key for s in SERVICES.values() for key in environment(s) if key.startswith("INSIGHT_")}
    stages = read_dockerfile(ROOT / "Dockerfile")
    variables |= {key for st in stages for key in env_of(st) if key.startswith("INSIGHT_")}
    assert variables, "the compose file wires no settings"
    for variable in sorted(variables):
        setting_for(variable)


def test_the_api_settings_validate_and_point_at_the_other_services(monkeypatch: pytest.MonkeyPatch) -> None:
    dockerfile_env = env_of(stage(read_dockerfile(ROOT / "Dockerfile"), "runtime"))
    settings = settings_from({**dockerfile_env, **environment(SERVICES["api"])}, monkeypatch)
    assert settings.vectorstore.host == "chroma"
    assert settings.llm.provider == "openai_compatible"
    assert settings.log_format == "json"
    assert settings.auth.enabled
    llm_url = urlsplit(settings.llm.base_url or "")
    assert llm_url.hostname == "llm" and f"--port={llm_url.port}" in SERVICES["llm"]["command"]
    tracking = urlsplit(settings.tracking.uri)
    assert tracking.hostname == "mlflow" and f"--port={tracking.port}" in SERVICES["mlflow"]["command"]
    artifacts = urlsplit(settings.tracking.artifact_location)
    assert (artifacts.scheme, artifacts.netloc) == ("mlflow-artifacts", "")  # the server refuses a named host
    assert settings.vectorstore.port == 8000  # the Chroma image listens on 8000
    published = [str(p) for p in SERVICES["api"].get("ports", [])]
    assert any(p.endswith(f":{settings.api.port}") for p in published)
    assert settings.prompts_dir == Path("/app/prompts")


def test_every_host_in_a_url_setting_is_a_service() -> None:
    for name, service in SERVICES.items():
        for key, value in environment(service).items():
            if "://" in value and (host := urlsplit(value).hostname):
                assert host in SERVICES, f"{name}: {key}={value} names host {host!r}, which is no service"


def test_long_running_services_have_health_checks() -> None:
    for name, service in SERVICES.items():
        if service.get("restart") == "no":
            continue
        check = service.get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), f"{name}: healthcheck test must be CMD/CMD-SHELL"
        assert not check.get("disable"), f"{name}: healthcheck disabled"


def test_dependencies_wait_for_health_or_completion() -> None:
    for name, service in SERVICES.items():
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on must give a condition per service"
        for target, spec in depends.items():
            assert target in SERVICES, f"{name} depends on unknown service {target}"
            condition = spec.get("condition")
            if condition == "service_healthy":
                assert SERVICES[target].get("healthcheck"), f"{name} waits for {target}'s health, it has no check"
            else:
                assert condition == "service_completed_successfully", f"{name} → {target}: {condition}"
                assert SERVICES[target].get("restart") == "no", f"{target} is waited on to finish: a one-shot"
    api_waits_for = {t for t, spec in SERVICES["api"]["depends_on"].items() if spec["condition"] == "service_healthy"}
    assert api_waits_for >= {"chroma", "mlflow", "llm"}


def test_named_volumes_are_declared_and_bind_mounts_exist() -> None:
    declared = set(COMPOSE.get("volumes") or {})
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name}: bind mount {source} does not exist"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"


def test_builds_name_existing_contexts_dockerfiles_and_stages() -> None:
    for name, service in SERVICES.items():
        build = build_of(service)
        if build is None:
            assert ":" in service["image"], f"{name}: pin the image's tag"
            continue
        context = ROOT / build["context"]
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        assert context.is_dir() and dockerfile.is_file(), f"{name}: {dockerfile} missing"
        if "target" in build:
            stage(read_dockerfile(dockerfile), build["target"])


def module_exists(name: str) -> bool:
    """Whether ``python -m name`` finds a module, without importing it (importing llama_cpp leaks a file)."""
    top, _, rest = name.partition(".")
    spec = importlib.util.find_spec(top)
    if spec is None or not rest:
        return spec is not None
    for location in spec.submodule_search_locations or []:
        path = Path(location, *rest.split("."))
        if (path / "__main__.py").is_file() or path.with_suffix(".py").is_file():
            return True
    return False


def test_insight_commands_exist() -> None:
    commands = typer.main.get_command(cli_app).commands  # type: ignore[attr-defined]
    for name, service in insight_services().items():
        command = service.get("command") or ["insight", "serve"]
        if command[0] == "insight":
            assert command[1] in commands, f"{name}: `insight {command[1]}` is no command"
            options = {p for param in commands[command[1]].params for p in param.opts}
            for option in command[2:]:
                if option.startswith("--"):
                    assert option.split("=")[0] in options, f"{name}: `insight {command[1]}` has no {option}"
        elif command[0] == "chroma":
            assert command[1] == "run" and shutil.which("chroma", path=str(Path(sys.executable).parent)), command
        else:
            assert command[:2] == ["python", "-m"], f"{name}: unexpected command {command}"
            assert module_exists(command[2]), f"{name}: no module {command[2]}"


def test_the_model_server_serves_what_the_model_job_assembles() -> None:
    job = SERVICES["llm-model"]
    target_dir = job["command"][-1]
    job_volume = next(v.split(":")[0] for v in job["volumes"] if v.split(":")[1] == target_dir)
    server_mount = next(v.split(":")[1] for v in SERVICES["llm"]["volumes"] if v.split(":")[0] == job_volume)
    model_flag = next(arg for arg in SERVICES["llm"]["command"] if arg.startswith("--model="))
    assert model_flag == f"--model={server_mount}/{QWEN25_CODER_05B.filename}"


def test_the_predictor_is_trained_into_the_volume_the_api_serves() -> None:
    api_env, train_env = environment(SERVICES["api"]), environment(SERVICES["train"])
    model_dir = Path(api_env["INSIGHT_PREDICTOR__MODEL_DIR"])
    assert Path(train_env["INSIGHT_PREDICTOR__MODEL_DIR"]) == model_dir

    def volume_holding(service: str) -> str:
        # Strictly inside the mount: save_artifact swaps the model directory in by renaming it,
        # which a mount point itself does not allow.
        holding = [v for v in SERVICES[service]["volumes"] if Path(v.split(":")[1]) in model_dir.parents]
        assert len(holding) == 1, f"{service}: no volume holds {model_dir} below its mount point"
        return holding[0]

    api_volume, train_volume = volume_holding("api"), volume_holding("train")
    assert api_volume.split(":")[0] == train_volume.split(":")[0]
    assert api_volume.endswith(":ro") and not train_volume.endswith(":ro")
    assert train_env["INSIGHT_TRACKING__URI"] == api_env["INSIGHT_TRACKING__URI"]


def test_mlflow_has_a_database_an_artifact_volume_and_one_worker() -> None:
    command = SERVICES["mlflow"]["command"]
    flags = dict(arg.removeprefix("--").split("=", 1) for arg in command if arg.startswith("--") and "=" in arg)
    assert flags["workers"] == "1"
    backend = urlsplit(flags["backend-store-uri"])
    # a bare postgresql:// means psycopg 3 to SQLAlchemy 2.1; the mlflow stage installs psycopg2
    assert backend.scheme == "postgresql+psycopg2" and backend.hostname in SERVICES
    assert SERVICES["mlflow"]["depends_on"][backend.hostname]["condition"] == "service_healthy"
    mounts = {v.split(":")[1]: v.split(":")[0] for v in SERVICES["mlflow"]["volumes"]}
    assert flags["artifacts-destination"] in mounts
    assert "mlflow:5000" in flags["allowed-hosts"].split(",")  # MLflow refuses Host headers it does not know


# --- parity with the process stack (deploy/local-stack): one topology, two placements ----------------------
TOPOLOGY = services(COMPOSE_NETWORK)


@pytest.mark.parametrize("name", sorted(TOPOLOGY))
def test_each_service_runs_what_the_topology_defines(name: str) -> None:
    expected, service = TOPOLOGY[name], SERVICES[name]
    assert service.get("command") == (list(expected.command) if expected.command is not None else None)
    assert environment(service) == expected.environment
    assert service.get("healthcheck") == compose_healthcheck(expected)
    if expected.one_shot:
        assert service.get("restart") == "no"
    waits_for = set(service.get("depends_on") or {})
    assert waits_for == set(expected.depends_on)


def test_the_compose_file_runs_every_service_of_the_topology_and_nothing_else() -> None:
    assert set(SERVICES) == set(TOPOLOGY)


def test_the_parity_check_can_fail() -> None:
    """A topology placed elsewhere (the process stack's) differs from the compose file where it should."""
    processes = services(loopback(dict.fromkeys(COMPOSE_NETWORK.ports, 40000), Path("/state"), Path("/models")))
    assert list(processes["chroma"].command or ()) != SERVICES["chroma"]["command"]
    assert processes["api"].environment != environment(SERVICES["api"])
    assert compose_healthcheck(processes["mlflow"]) != SERVICES["mlflow"]["healthcheck"]


def test_the_process_stack_differs_from_compose_only_in_placement() -> None:
    """Same services, same commands up to host names, ports and paths; every setting still validates."""
    ports = {"postgres": 40001, "mlflow": 40002, "chroma": 40003, "llm": 40004, "api": 40005}
    processes = services(loopback(ports, Path("/state"), Path("/models")))  # type: ignore[arg-type]
    assert set(processes) == set(TOPOLOGY)
    for name, local in processes.items():
        assert set(local.environment) == set(TOPOLOGY[name].environment)
        assert (local.command is None) == (TOPOLOGY[name].command is None)
        if local.command is not None:
            assert local.command[:2] == TOPOLOGY[name].command[:2]  # type: ignore[index]
            flags = {arg.split("=")[0] for arg in local.command if arg.startswith("--")}
            assert flags == {arg.split("=")[0] for arg in TOPOLOGY[name].command if arg.startswith("--")}  # type: ignore[union-attr]
    api = processes["api"].environment
    assert api["INSIGHT_VECTORSTORE__HOST"] == "127.0.0.1" and api["INSIGHT_VECTORSTORE__PORT"] == "40003"
    assert api["INSIGHT_LLM__BASE_URL"] == "http://127.0.0.1:40004/v1"
    assert api["INSIGHT_TRACKING__URI"] == "http://127.0.0.1:40002"
    assert "--model=/models/" + QWEN25_CODER_05B.filename in (processes["llm"].command or ())
    replica = api_service(loopback(ports, Path("/state"), Path("/models")), 40099)  # type: ignore[arg-type]
    assert replica.environment == {**api, "INSIGHT_API__PORT": "40099"}


# --- Dockerfile -----------------------------------------------------------------------------------------------
def test_the_dockerfile_is_multi_stage_and_the_api_runs_as_a_user() -> None:
    stages = read_dockerfile(ROOT / "Dockerfile")
    assert len(stages) >= 2
    runtime = stage(stages, "runtime")
    users = runtime.all("USER")
    assert users, "the runtime stage runs as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert any("useradd" in args and users[-1] in args for args in runtime.all("RUN"))
    assert any("--from=build" in args for args in runtime.all("COPY")), "runtime copies the built environment"
    assert not any("build-essential" in args for args in runtime.all("RUN")), "no compiler in the runtime image"
    assert runtime.all("HEALTHCHECK")
    for name in ("mlflow",):
        assert stage(stages, name).all("USER")[-1] not in ("root", "0")


def test_dependencies_are_installed_from_the_lock() -> None:
    stages = read_dockerfile(ROOT / "Dockerfile")
    installs = [args for st in stages for args in st.all("RUN") if "pip install" in args]
    assert installs
    for args in installs:
        if "--no-deps" in args:
            continue  # the project itself, its dependencies already in place
        assert re.search(r"(--constraint|-c|-r)\s+\S*requirements\.lock", args), f"unlocked install: {args}"
    lock = (ROOT / "requirements.lock").read_text()
    for pinned in re.findall(r'"([A-Za-z0-9_.-]+)==([^"]+)"', " ".join(installs)):
        name, version = pinned
        in_lock = re.search(rf"^{re.escape(name)}==(\S+)$", lock, re.MULTILINE | re.IGNORECASE)
        assert in_lock is None or in_lock.group(1) == version, f"{name}=={version} but the lock has {in_lock.group(1)}"


def test_every_copied_file_exists_and_is_not_docker_ignored() -> None:
    ignored = [
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip() and line[0] != "#"
    ]
    sources: list[str] = []
    for st in read_dockerfile(ROOT / "Dockerfile"):
        for args in st.all("COPY"):
            tokens = [t for t in args.split() if not t.startswith("--")]
            if "--from=" in args:
                continue
            sources.extend(tokens[:-1])
    assert "requirements.lock" in sources
    for source in sources:
        path = source.rstrip("/")
        assert (ROOT / path).exists(), f"COPY {source}: not in the repository"
        for pattern in ignored:
            assert not fnmatch(path, pattern.rstrip("/")) and not path.startswith(pattern.rstrip("/") + "/"), (
                f"COPY {source} is excluded by .dockerignore ({pattern})"
            )


def test_module_exists_says_no_to_a_missing_module() -> None:
    assert module_exists("llama_cpp.server") and module_exists("insight.llm.local_model")
    assert not module_exists("llama_cpp.no_such_server") and not module_exists("no_such_package")
