"""Helpers to run the Snakemake workflow on the tiny suite (used by the workflow tests;
test-only, so not part of the llmr package). The tiny config is ``.test/config.yaml``.

The workflow tests run Snakemake as an ordinary (non-root) user, because that is what users
are: a run as root ignores file permissions and so hides, e.g., write-protected outputs.
When the tests run as root (CI), :func:`workflow_runner` creates the account ``llmr-ci`` and
every Snakemake command runs through ``runuser``; otherwise the current user runs them. As
root outside CI, when that account cannot reach this Python (e.g. a pyenv under /root, mode
700; only .ci/run opens it), the commands run as root directly instead of skipping the tests.
Work folders then live outside pytest's private (mode 700) temporary folder, owned by that
user, with copies of the tiny models and suite.
"""

from __future__ import annotations

import gzip
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]  # tests/helpers/workflow.py -> the repo
TEST_CONFIG = REPO / ".test" / "config.yaml"
WORKFLOW_PARTS = (
    "Snakefile",
    "rules",
    "workflow_scripts",
    "schemas",
    "profiles",
    "llmr",
    "report",
    "environment.yml",
    "pyproject.toml",
    "config.yaml",
)
CI_USER = "llmr-ci"
VENV_BIN = Path(sys.executable).parent
EXTRA_TASK = "cls_extra"  # a task present in the staged suite folder but not in the tiny config


def is_root() -> bool:
    return os.geteuid() == 0


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class Runner:
    """Runs commands as ``user`` (through ``runuser``, from root) or as the current user."""

    user: str | None = None
    as_root_because: str | None = None  # set when, as root, the CI account could not be used

    @property
    def home(self) -> str:
        return pwd.getpwnam(self.user).pw_dir if self.user else os.path.expanduser("~")

    def env(self, workdir: Path | None = None) -> dict[str, str]:
        """The environment of a command: this venv first on PATH, ``workdir``'s llmr first."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("XDG_", "PYTEST_")) and k not in ("TMPDIR", "PYTHONPATH")
        }
        env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
        env["HOME"] = self.home
        if workdir is not None:
            env["PYTHONPATH"] = str(workdir)
        if self.user:
            env.update(USER=self.user, LOGNAME=self.user)
        return env

    def command(
        self, args: Sequence[str], env: dict[str, str], extra: Sequence[str] = ()
    ) -> list[str]:
        """``args`` as run by the user; ``extra`` names more variables of ``env`` to pass."""
        if not self.user:
            return list(args)
        keep = [
            f"{k}={env[k]}"
            for k in ("PATH", "HOME", "PYTHONPATH", "USER", "LOGNAME", *extra)
            if k in env
        ]
        return ["runuser", "-u", self.user, "--", "env", *keep, *args]

    def run(
        self,
        args: Sequence[str],
        cwd: Path | None = None,
        check: bool = True,
        timeout: float | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess:
        """Run ``args`` in ``cwd``; ``extra_env`` adds environment variables."""
        env = self.env(cwd) | (extra_env or {})
        cmd = self.command(args, env, list(extra_env or ()))
        proc = subprocess.run(
            cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
            )
        return proc

    def popen(self, args: Sequence[str], cwd: Path, log: Path) -> subprocess.Popen:
        """Start ``args`` in the background; stdout and stderr go to ``log``."""
        env = self.env(cwd)
        with open(log, "w") as fh:
            return subprocess.Popen(
                self.command(args, env),
                cwd=cwd,
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                text=True,
            )

    def own(self, path: Path) -> None:
        """Give ``path`` (recursively) to the runner's user."""
        if self.user:
            subprocess.run(["chown", "-R", f"{self.user}:", str(path)], check=True)


def ensure_user(name: str = CI_USER) -> str:
    """Create the unprivileged account ``name`` if it does not exist (needs root)."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--create-home", "--shell", "/bin/sh", name],
            check=True,
            capture_output=True,
        )
    return name


def closed_folders(*paths: Path) -> list[str]:
    """Folders on the way to ``paths`` that other users may not enter (no o+x)."""
    out: list[str] = []
    for path in paths:
        for p in [*reversed(Path(path).parents), Path(path)]:
            if p.is_dir() and not p.stat().st_mode & 0o001 and str(p) not in out:
                out.append(str(p))
    return out


def workflow_runner(strict: bool | None = None) -> Runner:
    """The non-root runner: the current user, or (as root) the CI account, created if needed.

    When, as root, that account cannot run this project's virtual environment (e.g. a Python
    or a checkout under /root, mode 700): with ``strict`` (default: in CI) raise
    PermissionError with the reason; else warn and run as root itself (``Runner(None)``), so
    a root ``make test`` still runs every workflow test.
    """
    strict = in_ci() if strict is None else strict
    if not is_root():
        return Runner(None)
    runner = Runner(ensure_user())
    check = runner.run(
        [sys.executable, "-c", "import llmr, snakemake, torch"], cwd=None, check=False
    )
    if check.returncode != 0:
        closed = closed_folders(Path(os.path.realpath(sys.executable)).parent, VENV_BIN, REPO)
        reason = (
            f"user {runner.user} cannot run {VENV_BIN}: {check.stderr.strip()[-1500:]}\n"
            f"folders other users may not enter: {closed or 'none'} (.ci/run opens them with "
            f"chmod o+x; or install Python and the checkout outside them)"
        )
        if strict:
            raise PermissionError(reason)
        warnings.warn(f"{reason}\nrunning Snakemake as root instead", stacklevel=2)
        return Runner(None, as_root_because=reason)
    return runner


def make_workdir(runner: Runner, prefix: str = "llmr-wf-") -> Path:
    """A fresh folder under the system temp folder, owned by the runner's user."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=tempfile.gettempdir()))
    runner.own(path)
    return path


def copy_workflow(dst: Path) -> Path:
    """Copy the workflow and the llmr sources to ``dst`` (so tests may edit the copy)."""
    dst.mkdir(parents=True, exist_ok=True)
    for part in WORKFLOW_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, dst / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dst / part)
    return dst


def _add_extra_task(suite: Path) -> None:
    """Add task ``EXTRA_TASK`` (cls_sent's examples renamed) to a released-format suite."""
    renames = {"cls_sent_": f"{EXTRA_TASK}_"}
    for split in ("train", "test", "passages"):
        path = suite / f"{split}.jsonl.gz"
        with gzip.open(path, "rt") as fh:
            recs = [json.loads(line) for line in fh]
        extra = []
        for rec in recs:
            if rec["task_name"] == "cls_sent":
                new = dict(rec, task_name=EXTRA_TASK)
                key = "id" if split == "passages" else "query_id"
                for old, repl in renames.items():
                    new[key] = new[key].replace(old, repl)
                extra.append(new)
        with gzip.open(path, "wt") as fh:
            for rec in recs + extra:
                fh.write(json.dumps(rec) + "\n")


def stage_inputs(dst: Path, suite_dir: str, lm: str, encoder: str) -> dict[str, str]:
    """Copy the tiny suite (plus the unused task ``EXTRA_TASK``) and models into ``dst``."""
    out = {}
    for name, src in (("suite", suite_dir), ("lm", lm), ("encoder", encoder)):
        shutil.copytree(src, dst / name)
        out[name] = str(dst / name)
    _add_extra_task(dst / "suite")
    return out


def tiny_config(suite_dir: str, lm: str, encoder: str, rounds: int = 1) -> dict:
    """``.test/config.yaml`` (the tiny suite, every stage a few steps) merged over
    config.yaml, as Snakemake merges ``--configfile``, with this run's paths of the tiny suite
    and models, and ``rounds``."""
    cfg = overlay_config(TEST_CONFIG)
    cfg["suite"]["released_dir"] = str(suite_dir)
    cfg["models"].update(llm=str(lm), encoder=str(encoder), reward_init=str(encoder))
    cfg["rounds"] = rounds
    return cfg


def overlay_config(path: Path) -> dict:
    """The config an overlay (``.test/config.yaml``, ``config/*.yaml``) gives: config.yaml
    with the overlay merged over it, nested keys by key (Snakemake's ``update_config``)."""
    from snakemake.utils import update_config

    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    update_config(cfg, yaml.safe_load(Path(path).read_text()) or {})
    return cfg


def write_config(workdir: Path, cfg: dict, name: str = "config.yaml") -> Path:
    path = workdir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    path.chmod(0o644)
    return path


def snakemake_command(*args: str) -> list[str]:
    exe = VENV_BIN / "snakemake"
    return [str(exe) if exe.exists() else "snakemake", "--cores", "2", *args]


def snakemake(
    workdir: Path,
    *args: str,
    check: bool = True,
    runner: Runner | None = None,
    timeout: float | None = None,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run snakemake in ``workdir`` with the llmr sources of ``workdir`` first on the path."""
    return (runner or Runner(None)).run(
        snakemake_command(*args), cwd=workdir, check=check, timeout=timeout, extra_env=extra_env
    )


def parse_job_stats(out: str) -> dict[str, int]:
    """Rules and job counts from Snakemake's "Job stats" table (empty: nothing to do)."""
    if "Nothing to be done" in out:
        return {}
    m = re.search(r"Job stats:\s*\n\s*job\s+count\s*\n[-\s]+\n(.*?)\n\s*total\s+(\d+)", out, re.S)
    if not m:
        raise RuntimeError(f"could not parse the job stats:\n{out[-3000:]}")
    jobs: dict[str, int] = {}
    for line in m.group(1).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            jobs[parts[0]] = int(parts[1])
    return jobs


def planned_jobs(workdir: Path, *args: str, runner: Runner | None = None) -> dict[str, int]:
    """Rules and job counts that a dry run plans (empty dict: nothing to do)."""
    proc = snakemake(workdir, "-n", *args, runner=runner)
    return parse_job_stats(proc.stdout + proc.stderr)


def slurm_up() -> bool:
    """True when a SLURM cluster runs a job (``srun true``) within 20 s."""
    if shutil.which("sinfo") is None or shutil.which("srun") is None:
        return False
    return (
        subprocess.run(["timeout", "20", "srun", "-N1", "true"], capture_output=True).returncode
        == 0
    )
