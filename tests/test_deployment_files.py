"""The deployment files (gunicorn.conf.py, Dockerfile, .dockerignore, compose.yaml) agree with the code."""

from __future__ import annotations

import ast
import configparser
import importlib.util
import ipaddress
import json
import math
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from gunicorn.config import Config as GunicornConfig
from packaging.specifiers import SpecifierSet

from tests.support.apps import ROOT

GUNICORN_CONF = ROOT / "gunicorn.conf.py"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "compose.yaml"
SETUP_CFG = ROOT / "setup.cfg"

APP_SERVICES = {"web", "scheduler", "worker", "migrate"}
# The roles that do not listen on a port, so the image's HTTP healthcheck cannot pass for them.
NOT_LISTENING = APP_SERVICES - {"web"}
# Stand-ins for the variables an operator puts into .env.
COMPOSE_ENV = {"POSTGRES_PASSWORD": "0123456789abcdef"}


# -- Dockerfile ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, its continuation lines joined."""

    keyword: str
    args: str
    line: int

    def exec_form(self) -> list[str]:
        """The JSON array of an exec-form instruction (CMD ["a", "b"])."""
        value = json.loads(self.args)
        assert isinstance(value, list), f"line {self.line}: not an exec-form array"
        return value


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions in order; comments, parser directives and blank lines dropped."""
    instructions: list[Instruction] = []
    parts: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        # Docker drops comment and empty lines, also in the middle of a continued instruction.
        if not stripped or stripped.startswith("#"):
            continue
        if not parts:
            start = number
        if raw.rstrip().endswith("\\"):
            parts.append(raw.rstrip()[:-1])
            continue
        parts.append(raw)
        keyword, _, args = "".join(parts).strip().partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
        parts = []
    assert not parts, "the last instruction ends with a line continuation"
    return instructions


def dockerfile() -> list[Instruction]:
    """The repository's Dockerfile, parsed."""
    return parse_dockerfile(DOCKERFILE.read_text())


def only(instructions: list[Instruction], keyword: str) -> Instruction:
    """The single instruction with this keyword."""
    found = [i for i in instructions if i.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword}, found {len(found)}"
    return found[0]


def image_env(instructions: list[Instruction]) -> dict[str, str]:
    """Every ENV KEY=VALUE of the image."""
    env: dict[str, str] = {}
    for instruction in instructions:
        if instruction.keyword == "ENV":
            for token in shlex.split(instruction.args):
                key, sep, value = token.partition("=")
                assert sep, f"line {instruction.line}: use ENV KEY=VALUE"
                env[key] = value
    return env


def run_commands(instructions: list[Instruction]) -> str:
    """The shell text of every RUN, one per line."""
    return "\n".join(i.args for i in instructions if i.keyword == "RUN")


def test_the_parser_joins_continuations_and_drops_comments() -> None:
    """Continued lines become one instruction; comments inside them are ignored."""
    text = (
        "# syntax=docker/dockerfile:1\n"
        "FROM python:3.11-slim\n"
        "\n"
        "RUN apt-get update \\\n"
        "# a comment inside the instruction\n"
        " && apt-get install -y tini\n"
        'CMD ["gunicorn", "-c", "gunicorn.conf.py"]\n'
    )
    parsed = parse_dockerfile(text)
    assert [(i.keyword, i.line) for i in parsed] == [("FROM", 2), ("RUN", 4), ("CMD", 7)]
    assert parsed[1].args == "apt-get update  && apt-get install -y tini"
    assert parsed[2].exec_form() == ["gunicorn", "-c", "gunicorn.conf.py"]
    with pytest.raises(AssertionError):
        parse_dockerfile("RUN true \\\n")


def test_the_base_image_has_a_python_the_package_accepts() -> None:
    """FROM python:3.11-slim, and 3.11 satisfies setup.cfg's python_requires."""
    base = only(dockerfile(), "FROM").args
    assert base == "python:3.11-slim"
    requires = setup_cfg().get("options", "python_requires")
    assert "3.11" in SpecifierSet(requires)


def test_the_image_runs_as_a_user_it_creates() -> None:
    """USER is the last word on who runs, is not root, and is created by a RUN."""
    instructions = dockerfile()
    users = [i for i in instructions if i.keyword == "USER"]
    assert users, "no USER: the image would run as root"
    user, _, group = users[-1].args.partition(":")
    assert user not in ("root", "0") and group not in ("root", "0")
    runs = run_commands(instructions)
    if user.isdigit():
        assert re.search(rf"useradd\b[^\n]*--uid {user}\b", runs)
    else:
        assert re.search(rf"useradd\b[^\n]*\b{user}\b", runs)
    # Nothing after USER needs root (apt-get, pip and chown would fail there).
    assert all(i.keyword != "RUN" for i in instructions[instructions.index(users[-1]) :])


def test_the_healthcheck_probes_healthz_on_the_port_gunicorn_listens_on() -> None:
    """HEALTHCHECK runs valid Python against /healthz, a route the app has, on $PORT."""
    instructions = dockerfile()
    check = only(instructions, "HEALTHCHECK")
    match = re.fullmatch(r"((?:--[a-z-]+=\S+\s+)*)CMD\s+(.*)", check.args, re.DOTALL)
    assert match, "HEALTHCHECK [OPTIONS] CMD [...] expected"
    command = json.loads(match.group(2))
    assert command[:2] == ["python", "-c"]
    compile(command[2], "<healthcheck>", "exec")
    assert "/healthz" in command[2]
    assert "os.environ.get('PORT', '8000')" in command[2]
    assert image_env(instructions)["PORT"] == "8000"
    routes = "".join(p.read_text() for p in (ROOT / "consent_server").rglob("*.py"))
    assert re.search(r"""route\(\s*["']/healthz["']""", routes)


def test_the_default_command_serves_with_the_gunicorn_config() -> None:
    """CMD is gunicorn -c gunicorn.conf.py from the copied tree, under tini."""
    instructions = dockerfile()
    assert only(instructions, "CMD").exec_form() == ["gunicorn", "-c", "gunicorn.conf.py"]
    workdir = only(instructions, "WORKDIR").args
    copies = [i.args for i in instructions if i.keyword == "COPY"]
    assert copies == [". ."], "the whole (ignore-filtered) tree lands in WORKDIR"
    assert workdir == "/app" and GUNICORN_CONF.is_file()
    entrypoint = only(instructions, "ENTRYPOINT").exec_form()
    assert entrypoint == ["/usr/bin/tini", "--"]
    assert re.search(
        r"apt-get install -y --no-install-recommends tini\b", run_commands(instructions)
    )


def test_pip_installs_extras_that_setup_cfg_defines() -> None:
    """pip install -e .[server,scanner,celery]: every extra exists and brings its programs."""
    installs = re.findall(r"pip install (?:-e )?\"?\.\[([^\]]+)\]", run_commands(dockerfile()))
    assert len(installs) == 1, "one pip install of the package with its extras"
    named = {extra.strip() for extra in installs[0].split(",")}
    assert named == {"server", "scanner", "celery"}
    extras = extras_require()
    assert named <= set(extras), f"not in setup.cfg: {sorted(named - set(extras))}"
    # The programs the image's roles start come from these extras.
    assert "gunicorn" in extras["server"]
    assert {"celery", "redis"} <= extras["celery"]
    assert {"playwright", "selenium"} <= extras["scanner"]
    scripts = setup_cfg().get("options.entry_points", "console_scripts")
    assert re.search(r"^\s*consent-server\s*=", scripts, re.MULTILINE)


def test_chromium_is_optional_but_on_by_default() -> None:
    """ARG WITH_CHROMIUM=1 installs Debian's chromium, at the path the workers are given."""
    instructions = dockerfile()
    assert only(instructions, "ARG").args == "WITH_CHROMIUM=1"
    runs = run_commands(instructions)
    assert re.search(
        r'if \[ "\$WITH_CHROMIUM" = 1 \]; then\s+apt-get install -y --no-install-recommends '
        r"chromium chromium-driver\b",
        runs,
    )
    worker = compose_services()["worker"]
    assert worker["environment"]["CONSENT_SCAN_CHROMIUM"] == "/usr/bin/chromium"
    assert worker["build"]["args"]["WITH_CHROMIUM"] == "1"


# -- .dockerignore ---------------------------------------------------------------------------


def ignore_patterns() -> list[str]:
    """The .dockerignore patterns, comments and blank lines dropped."""
    lines = (line.strip() for line in DOCKERIGNORE.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's matching: anchored at the context root, ** spans folders, * and ? do not."""
    out = []
    i = 0
    pattern = pattern.strip("/")
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves this context-relative path out (a matched folder takes its files)."""
    parts = PurePosixPath(path).parts
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _pattern_regex(pattern[1:] if negate else pattern)
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            result = not negate
    return result


def test_the_ignore_matcher() -> None:
    """The small matcher behaves like Docker's on the cases the file relies on."""
    assert ignored("instance/keys/a.pem", ["instance"])
    assert not ignored("consent_server/instance.py", ["instance"])
    assert ignored("static/banner/node_modules/x/y.js", ["**/node_modules"])
    assert not ignored("static/banner/dist/banner.js", ["dist"])
    assert ignored("scanner/__pycache__/a.pyc", ["**/__pycache__"])
    assert not ignored("docs/a.md", ["docs", "!docs/a.md"])


def test_the_build_context_leaves_out_state_and_secrets_but_not_the_app() -> None:
    """Keys, databases, .env and the venv stay out; code, migrations and the banner build go in."""
    patterns = ignore_patterns()
    for path in ("instance/keys/current", "instance/consent.sqlite3", ".env", ".git/HEAD"):
        assert ignored(path, patterns), path
    for path in (".venv/bin/python", "static/banner/node_modules/esbuild/package.json"):
        assert ignored(path, patterns), path
    needed = ["setup.cfg", "pyproject.toml", "README.md", "gunicorn.conf.py"]
    manifest = json.loads((ROOT / "static/banner/dist/manifest.json").read_text())
    needed += [f"static/banner/dist/{manifest['js']}", f"static/banner/dist/{manifest['css']}"]
    for folder in ("consent_server", "scanner", "migrations", "static/banner/dist"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                needed.append(path.relative_to(ROOT).as_posix())
    for path in needed:
        assert (ROOT / path).is_file(), path
        assert not ignored(path, patterns), f"{path} would be missing from the image"


# -- compose.yaml ----------------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} substitution, applied everywhere."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, operator, word = match.groups()
        current = env.get(name)
        unset = current is None or (
            operator is not None and operator.startswith(":") and not current
        )
        if operator and operator.endswith("?") and unset:
            raise KeyError(f"{name}: {word}")
        if operator and operator.endswith("-") and unset:
            return word
        return current or ""

    return _VARIABLE.sub(substitute, value.replace("$$", "\0")).replace("\0", "$")


def compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    """compose.yaml after YAML merge keys and variable substitution."""
    data = yaml.safe_load(COMPOSE.read_text())
    return interpolate(data, COMPOSE_ENV if env is None else env)


def compose_services() -> dict[str, dict[str, Any]]:
    """The services of compose.yaml."""
    return compose()["services"]


def command(service: dict[str, Any]) -> list[str]:
    """A service's command as an argument list."""
    value = service["command"]
    return shlex.split(value) if isinstance(value, str) else [str(part) for part in value]


def seconds(duration: str) -> float:
    """A compose duration (30s, 2m, 1m30s) in seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 0.000001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    assert "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def test_compose_has_the_services_of_the_deployment() -> None:
    """web, scheduler, worker, migrate on the built image, plus postgres and redis."""
    services = compose_services()
    assert set(services) == APP_SERVICES | {"postgres", "redis"}
    built = {name for name, service in services.items() if "build" in service}
    assert built == APP_SERVICES
    assert len({json.dumps(services[n]["build"], sort_keys=True) for n in built}) == 1
    assert len({services[n]["image"] for n in built}) == 1
    assert services["web"]["build"]["context"] == "."
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"


def test_compose_refuses_to_start_without_a_database_password() -> None:
    """No default password: POSTGRES_PASSWORD must come from the operator."""
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        compose(env={})


def test_every_process_shares_the_key_folder() -> None:
    """Each app service mounts the keys volume where CONSENT_KEYS_DIR points, as the image does."""
    instructions = dockerfile()
    keys_dir = image_env(instructions)["CONSENT_KEYS_DIR"]
    # Created and owned by the app's user in the image, so a fresh named volume is writable.
    assert re.search(
        rf"install -d -o consent -g consent -m 0700 {re.escape(keys_dir)}\b",
        run_commands(instructions),
    )
    data = compose()
    assert "keys" in data["volumes"]
    for name in APP_SERVICES:
        service = data["services"][name]
        assert service["environment"]["CONSENT_KEYS_DIR"] == keys_dir, name
        assert f"keys:{keys_dir}" in service["volumes"], name


def test_every_process_reads_the_same_configuration() -> None:
    """The database and broker URLs point at the compose services, identically everywhere."""
    services = compose_services()
    shared = (
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "CONSENT_CELERY_QUEUE",
        "CONSENT_RATELIMIT_STORAGE_URI",
        "CONSENT_KEYS_DIR",
        "CONSENT_PUBLIC_URL",
    )
    envs = [services[name]["environment"] for name in sorted(APP_SERVICES)]
    for key in shared:
        assert len({env[key] for env in envs}) == 1, f"{key} differs between services"
    env = envs[0]
    database = urlsplit(env["DATABASE_URL"])
    postgres = services["postgres"]["environment"]
    assert database.scheme == "postgresql"
    assert (database.hostname, database.port) == ("postgres", 5432)
    assert database.username == postgres["POSTGRES_USER"]
    assert database.password == postgres["POSTGRES_PASSWORD"] == COMPOSE_ENV["POSTGRES_PASSWORD"]
    assert database.path == "/" + postgres["POSTGRES_DB"]
    assert env["CELERY_BROKER_URL"] == "redis://redis:6379/0"
    limiter = urlsplit(env["CONSENT_RATELIMIT_STORAGE_URI"])
    assert (limiter.scheme, limiter.hostname) == ("redis", "redis")
    assert limiter.path != "/0", "rate-limit counters must not share the broker's database"


def test_the_commands_of_the_roles() -> None:
    """web: gunicorn with the config file; scheduler and migrate: the consent-server CLI."""
    services = compose_services()
    web = command(services["web"])
    assert web == ["gunicorn", "-c", "gunicorn.conf.py"]
    assert web == only(dockerfile(), "CMD").exec_form()
    assert command(services["scheduler"]) == ["consent-server", "scheduler"]
    assert command(services["migrate"]) == ["consent-server", "db", "upgrade"]


def test_the_worker_consumes_the_queue_the_scheduler_sends_to() -> None:
    """celery -A <importable module> worker --pool=prefork -Q <CONSENT_CELERY_QUEUE>."""
    services = compose_services()
    argv = command(services["worker"])
    assert argv[:2] == ["celery", "-A"] and argv[3] == "worker"
    assert "--pool=prefork" in argv
    queues = [argv[i + 1] for i, arg in enumerate(argv) if arg in ("-Q", "--queues")]
    queues += [arg.partition("=")[2] for arg in argv if arg.startswith("--queues=")]
    assert len(queues) == 1, "one -Q option"
    queue = services["worker"]["environment"]["CONSENT_CELERY_QUEUE"]
    assert queues[0].split(",") == [queue] and queue == default_queue()
    module = argv[2]
    assert module == "consent_server.scans.tasks"
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin, f"{module} is not importable"
    tree = ast.parse(Path(spec.origin).read_text())
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    names |= {
        t.id
        for n in tree.body
        if isinstance(n, ast.Assign)
        for t in n.targets
        if isinstance(t, ast.Name)
    }
    # celery -A looks up `app` or `celery` (a module __getattr__ may build it on demand).
    assert names & {"app", "celery", "__getattr__"}, f"{module} offers no Celery app"


def test_migrations_run_once_before_every_other_role() -> None:
    """migrate waits for a healthy database; web, scheduler and worker wait for migrate."""
    services = compose_services()
    migrate = services["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in APP_SERVICES - {"migrate"}:
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert "ping" in services["redis"]["healthcheck"]["test"]


def test_state_lives_in_named_volumes() -> None:
    """PostgreSQL, Redis' append-only file and the keys are volumes, all declared and used."""
    data = compose()
    services = data["services"]
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "redisdata:/data" in services["redis"]["volumes"]
    assert command(services["redis"])[-2:] == ["--appendonly", "yes"]
    used = {
        volume.split(":", 1)[0]
        for service in services.values()
        for volume in service.get("volumes", [])
        if not volume.startswith((".", "/"))
    }
    assert used == set(data["volumes"]) == {"pgdata", "redisdata", "keys"}


def test_only_the_web_role_keeps_the_http_healthcheck() -> None:
    """Roles that do not listen turn the image's /healthz probe off; web keeps it."""
    services = compose_services()
    assert "healthcheck" not in services["web"]
    for name in NOT_LISTENING:
        assert services[name]["healthcheck"] == {"disable": True}, name


def test_web_is_published_behind_a_proxy_and_stops_gracefully() -> None:
    """Loopback port to the image's PORT, a trusted proxy, and time for gunicorn to drain."""
    web = compose_services()["web"]
    host_ip, host_port, container_port = web["ports"][0].rsplit(":", 2)
    assert host_ip == "127.0.0.1"
    assert container_port == image_env(dockerfile())["PORT"] == "8000"
    assert int(host_port) > 0
    assert int(web["environment"]["CONSENT_PROXY_COUNT"]) >= 1
    graceful = gunicorn_settings(image_env(dockerfile()))["raw"]["graceful_timeout"]
    assert seconds(web["stop_grace_period"]) > graceful


# -- gunicorn.conf.py ------------------------------------------------------------------------

# Loads the file as gunicorn does (a plain Python file), then puts each value through gunicorn's
# own validators; names that look like settings but are not would be silently ignored.
PROBE = r"""
import json, os, runpy, sys, types
from gunicorn.config import Config
if sys.argv[2] == "one-cpu":
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
namespace = runpy.run_path(sys.argv[1])
cfg = Config()
raw = {k: v for k, v in namespace.items() if k in cfg.settings}
for key, value in raw.items():
    cfg.set(key, value)
unknown = sorted(
    k for k, v in namespace.items()
    if not k.startswith("_") and k not in cfg.settings and k != "annotations"
    and not callable(v) and not isinstance(v, types.ModuleType)
)
validated = {k: cfg.settings[k].get() for k in raw}
print(json.dumps({"raw": raw, "validated": validated, "unknown": unknown}, default=str))
"""


def _probe(env: dict[str, str], cpus: str = "all") -> subprocess.CompletedProcess[str]:
    """Run the probe in a fresh interpreter with only these variables (and PATH) set."""
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
    return subprocess.run(
        [sys.executable, "-c", PROBE, str(GUNICORN_CONF), cpus],
        env=clean,
        cwd=ROOT / "tests",
        capture_output=True,
        text=True,
        timeout=60,
    )


def gunicorn_settings(env: dict[str, str], cpus: str = "all") -> dict[str, Any]:
    """The settings gunicorn.conf.py gives in this environment: raw, validated, unknown names."""
    result = _probe(env, cpus)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def expected_cpus() -> int:
    """CPUs this test may use: the affinity mask, capped by a cgroup v2 quota."""
    count = len(os.sched_getaffinity(0))
    cpu_max = Path("/sys/fs/cgroup/cpu.max")
    if cpu_max.is_file():
        quota, period = cpu_max.read_text().split()
        if quota != "max":
            count = min(count, math.ceil(int(quota) / int(period)))
    return max(1, count)


# One value per setting the file makes, different from its default; the test below requires
# this table to cover every setting, so none can be added without an override.
OVERRIDES: dict[str, tuple[str, str, Any]] = {
    "bind": ("GUNICORN_BIND", "unix:/run/consent/web.sock, 0.0.0.0:9000", None),
    "wsgi_app": ("GUNICORN_WSGI_APP", "other.module:app", "other.module:app"),
    "worker_class": ("GUNICORN_WORKER_CLASS", "sync", "sync"),
    "workers": ("GUNICORN_WORKERS", "3", 3),
    "threads": ("GUNICORN_THREADS", "4", 4),
    "preload_app": ("GUNICORN_PRELOAD_APP", "true", True),
    "keepalive": ("GUNICORN_KEEPALIVE", "10", 10),
    "timeout": ("GUNICORN_TIMEOUT", "60", 60),
    "graceful_timeout": ("GUNICORN_GRACEFUL_TIMEOUT", "5", 5),
    "worker_tmp_dir": ("GUNICORN_WORKER_TMP_DIR", "/run/consent", "/run/consent"),
    "accesslog": ("GUNICORN_ACCESSLOG", "-", "-"),
    "errorlog": ("GUNICORN_ERRORLOG", "/var/log/consent/error.log", "/var/log/consent/error.log"),
    "loglevel": ("GUNICORN_LOGLEVEL", "debug", "debug"),
    "forwarded_allow_ips": ("GUNICORN_FORWARDED_ALLOW_IPS", "10.0.0.0/8", "10.0.0.0/8"),
}


def test_gunicorn_defaults_are_the_benchmarked_ones() -> None:
    """gthread, one process per CPU x 16 threads, loopback, no access log, app factory."""
    settings = gunicorn_settings({})
    raw = settings["raw"]
    assert settings["unknown"] == []
    assert raw["bind"] == ["127.0.0.1:8000"]
    assert raw["wsgi_app"] == "consent_server.app:create_app()"
    assert raw["worker_class"] == "gthread"
    assert raw["workers"] == expected_cpus()
    assert raw["threads"] == 16
    assert raw["preload_app"] is False
    assert raw["keepalive"] == 5
    assert raw["timeout"] == 30
    assert 0 < raw["graceful_timeout"] < raw["timeout"]
    assert raw["accesslog"] is None
    assert raw["errorlog"] == "-"
    assert raw["forwarded_allow_ips"] == "127.0.0.1,::1"
    assert raw["worker_tmp_dir"] == ("/dev/shm" if Path("/dev/shm").is_dir() else None)
    # What gunicorn makes of them after its own validation.
    validated = settings["validated"]
    assert validated["bind"] == ["127.0.0.1:8000"]
    assert validated["forwarded_allow_ips"] == ["127.0.0.1", "::1"]


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity")
def test_gunicorn_starts_one_worker_per_usable_cpu() -> None:
    """Pinned to one CPU, one worker: the default follows the CPUs the process may use."""
    assert gunicorn_settings({}, cpus="one-cpu")["raw"]["workers"] == 1


def test_every_gunicorn_setting_is_overridden_by_its_variable() -> None:
    """GUNICORN_<SETTING> changes <setting>, for every setting in the file."""
    defaults = gunicorn_settings({})["raw"]
    assert set(defaults) == set(OVERRIDES), "each setting needs a GUNICORN_* override"
    env = {variable: value for variable, value, _ in OVERRIDES.values()}
    raw = gunicorn_settings(env)["raw"]
    for name, (variable, _, expected) in OVERRIDES.items():
        assert variable == f"GUNICORN_{name.upper()}"
        if expected is not None:
            assert raw[name] == expected, name
            assert raw[name] != defaults[name], name
    assert raw["bind"] == ["unix:/run/consent/web.sock", "0.0.0.0:9000"]


def test_gunicorn_binds_host_and_port_unless_given_a_bind() -> None:
    """The image's GUNICORN_HOST and PORT make the address; GUNICORN_BIND wins over them."""
    image = image_env(dockerfile())
    env = {"GUNICORN_HOST": image["GUNICORN_HOST"], "PORT": image["PORT"]}
    # Every interface: the container's port is only reachable as compose publishes it.
    assert ipaddress.ip_address(env["GUNICORN_HOST"]).is_unspecified
    assert gunicorn_settings(env)["raw"]["bind"] == [f"{env['GUNICORN_HOST']}:{env['PORT']}"]
    env["PORT"] = "9000"
    assert gunicorn_settings(env)["raw"]["bind"] == [f"{env['GUNICORN_HOST']}:9000"]
    env["GUNICORN_BIND"] = "127.0.0.1:7000"
    assert gunicorn_settings(env)["raw"]["bind"] == ["127.0.0.1:7000"]


@pytest.mark.parametrize(
    ("variable", "value"), [("GUNICORN_WORKERS", "many"), ("GUNICORN_PRELOAD_APP", "maybe")]
)
def test_a_malformed_variable_stops_gunicorn_with_its_name(variable: str, value: str) -> None:
    """A typo in a variable fails loudly, naming the variable, instead of a silent default."""
    result = _probe({variable: value})
    assert result.returncode != 0
    assert variable in result.stderr and repr(value) in result.stderr


def test_gunicorn_setting_names_are_gunicorns() -> None:
    """Every module-level setting in the file is one gunicorn knows (a typo would be ignored)."""
    known = set(GunicornConfig().settings)
    tree = ast.parse(GUNICORN_CONF.read_text())
    assigned = {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name) and not target.id.startswith("_")
    }
    assert assigned and assigned <= known, sorted(assigned - known)


def test_wsgi_app_names_an_existing_factory() -> None:
    """consent_server.app:create_app() is a module-level function callable without arguments."""
    wsgi_app = gunicorn_settings({})["raw"]["wsgi_app"]
    module, _, call = wsgi_app.partition(":")
    assert call.endswith("()")
    factory = call[:-2]
    assert (module, factory) == ("consent_server.app", "create_app")
    # Found and read, not imported: importing would build nothing but costs the whole app.
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin, f"{module} does not exist"
    tree = ast.parse(Path(spec.origin).read_text())
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert factory in functions, f"{module} defines no {factory}"
    args = functions[factory].args
    positional = args.posonlyargs + args.args
    assert len(args.defaults) == len(positional), f"{factory}() needs arguments"
    assert all(default is not None for default in args.kw_defaults)


# -- setup.cfg and config --------------------------------------------------------------------


def setup_cfg() -> configparser.ConfigParser:
    """setup.cfg, read without interpolation."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(SETUP_CFG)
    return parser


def extras_require() -> dict[str, set[str]]:
    """Each extra of setup.cfg and the distribution names it requires (lower case)."""
    section = setup_cfg()["options.extras_require"]
    extras = {}
    for extra, requirements in section.items():
        names = set()
        for line in requirements.splitlines():
            match = re.match(r"\s*([A-Za-z0-9._-]+)", line)
            if match:
                names.add(match.group(1).lower())
        extras[extra] = names
    return extras


def default_queue() -> str:
    """DefaultConfig.CELERY_QUEUE in consent_server/config.py, read without importing."""
    tree = ast.parse((ROOT / "consent_server/config.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "DefaultConfig":
            for item in node.body:
                target = item.targets[0] if isinstance(item, ast.Assign) else None
                if isinstance(item, ast.AnnAssign):
                    target = item.target
                if isinstance(target, ast.Name) and target.id == "CELERY_QUEUE":
                    assert isinstance(item.value, ast.Constant)
                    return str(item.value.value)
    raise AssertionError("DefaultConfig.CELERY_QUEUE not found")
