"""Sharing results with DVC, for real, with the README's commands in a git clone of the
committed tree (so any file anywhere in it that breaks DVC fails these tests): one stage per
experiment that never destroys work (a changed setting reruns only what it changes, files
under results/ stay, a killed `make repro` resumes), `dvc status`, `dvc metrics show` and
`dvc plots show` readable, and push / `make pull` through a directory remote and through
SSH to an OpenSSH server started here, after which Snakemake finds nothing to do.

The clone is of the last commit: uncommitted changes are not tested here. Its jobs run the
clone's own package (PYTHONPATH), with this environment's tools (make's VENV, not a new
install)."""

from __future__ import annotations

import getpass
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from helpers import REPO, load_test_config

BIN = Path(sys.executable).parent
VENV = BIN.parent
DEMO_RUNS = "results/demo/runs/digits/mlp"


def _env(repo: Path) -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(repo / "src")}


def _run(cwd: Path, *command: str) -> str:
    result = subprocess.run(command, cwd=cwd, env=_env(cwd), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{command}: {result.stdout[-3000:]}{result.stderr[-3000:]}"
    return result.stdout + result.stderr


def _make_command(*arguments: str) -> list[str]:
    """A README `make` command, with this environment as the Makefile's VENV (-o: the
    install is taken as done, not redone into this environment from the clone)."""
    return ["make", "-o", str(VENV / ".weightmom-installed"), f"VENV={VENV}", *arguments]


def _make(repo: Path, *arguments: str) -> str:
    return _run(repo, *_make_command(*arguments))


def _commit(repo: Path, message: str) -> None:
    _run(repo, "git", "add", "-A")
    _run(repo, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message)


def _job_counts(output: str) -> dict[str, int]:
    """Snakemake's "Job stats" table of a run: rule -> jobs run (empty when none ran)."""
    counts: dict[str, int] = {}
    for table in re.findall(r"Job stats:\n(.*?)\n\s*\n", output + "\n\n", re.S):
        for rule, count in re.findall(r"^(\w+)\s+(\d+)$", table, re.M):
            if rule != "total":
                counts[rule] = int(count)
    return counts


def _set_finetune_epochs(repo: Path, epochs: int) -> None:
    path = repo / "config/demo.yaml"
    config = yaml.safe_load(path.read_text())
    config["training"]["finetune"]["epochs"] = epochs
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def _project(root: Path) -> Path:
    """A git clone of the repository whose demo experiment is the reduced one of
    .test/dvc-experiment.yaml (two methods, two seeds, two rounds of the MLP), committed."""
    _run(root.parent, "git", "clone", "-q", str(REPO), str(root))
    (root / "config/demo.yaml").write_text(yaml.safe_dump(load_test_config("dvc-experiment"), sort_keys=False))
    _commit(root, "a reduced demo")
    return root


def test_the_only_dvc_pipeline_file_is_the_top_level_one():
    """DVC reads every dvc.yaml in the tree as a pipeline: one elsewhere breaks every DVC command."""
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert [path for path in tracked.splitlines() if Path(path).name in {"dvc.yaml", "dvc.lock"}] in (
        ["dvc.yaml"],
        ["dvc.lock", "dvc.yaml"],
    )


def test_every_config_is_a_dvc_experiment_of_its_own_name():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["experiment"]["foreach"]
    for name, config in stages.items():
        assert yaml.safe_load((REPO / config).read_text())["experiment"] == name
    assert sorted(stages.values()) == sorted(f"config/{p.name}" for p in (REPO / "config").glob("*.yaml"))


@pytest.mark.slow
def test_repro_keeps_work_reruns_what_changed_and_resumes_after_a_kill(tmp_path):
    repo = _project(tmp_path / "repo")
    first = _job_counts(_make(repo, "repro", "EXPERIMENT=demo"))
    assert first["train_dense"] == 2 and first["prune_round"] == 8  # 2 seeds; 2 methods x 2 rounds each
    for note in ("results/notes.txt", "results/demo/notes.txt", f"{DEMO_RUNS}/seed0/notes.txt"):
        (repo / note).write_text("a researcher's notes\n")
    dense = repo / f"{DEMO_RUNS}/seed0/dense/checkpoint.pt"
    dense_written = dense.stat().st_mtime_ns

    _set_finetune_epochs(repo, 2)
    second = _job_counts(_make(repo, "repro", "EXPERIMENT=demo"))
    assert second["prune_round"] == 8 and second["evaluate"] == 8  # every round and its evaluation, no dense model
    assert "train_dense" not in second and "prepare_data" not in second
    assert dense.stat().st_mtime_ns == dense_written
    for note in ("results/notes.txt", "results/demo/notes.txt", f"{DEMO_RUNS}/seed0/notes.txt"):
        assert (repo / note).read_text() == "a researcher's notes\n"

    _set_finetune_epochs(repo, 3)
    started = time.time()
    # What `make repro` runs, started directly: killed, it is this test's child to reap (make's
    # orphaned dvc would be a zombie where PID 1 reaps none, and hold DVC's lock).
    killed = subprocess.Popen(
        ["dvc", "repro", "experiment@demo"],
        cwd=repo,
        env=_env(repo),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # A round's evaluation is written: Snakemake starts it only once it has recorded the round
    # as done (waiting a fixed time after the round's checkpoint appears was not enough on a
    # busy machine: the job still had to exit and Snakemake to see it).
    evaluations = list((repo / DEMO_RUNS).glob("seed*/*/round*/metrics.parquet"))
    while not any(path.exists() and path.stat().st_mtime > started for path in evaluations):
        assert killed.poll() is None, "dvc repro ended before it could be killed"
        assert time.time() - started < 300
        time.sleep(0.1)
    os.killpg(killed.pid, signal.SIGKILL)  # dvc, Snakemake and its jobs, as a lost session would
    killed.wait()
    resumed = _job_counts(_make(repo, "repro", "EXPERIMENT=demo"))
    assert resumed.get("prune_round", 0) < 8 and sum(resumed.values()) < sum(second.values()), resumed
    assert resumed.get("prune_round", 0) + resumed.get("evaluate", 0) >= 1, "the kill came after all the work"
    assert "train_dense" not in resumed
    assert "Nothing to be done" in _run(repo, "snakemake", "-n", "--configfile", "config/demo.yaml")
    assert "up to date" in _run(repo, "dvc", "status", "experiment@demo")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _sshd() -> str | None:
    return shutil.which("sshd") or next(
        (p for p in ("/usr/sbin/sshd", "/usr/local/sbin/sshd") if os.access(p, os.X_OK)), None
    )


@pytest.fixture
def ssh_remote(tmp_path):
    """An OpenSSH server on 127.0.0.1 accepting this user's new key, and the remote's URL."""
    sshd = _sshd()
    if sshd is None:
        pytest.skip("no OpenSSH server (sshd) on this machine: install openssh-server to run the SSH remote test")
    keys = tmp_path / "ssh"
    keys.mkdir(mode=0o700)
    for name in ("host_key", "user_key"):
        _run(keys, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name))
    (keys / "authorized_keys").write_text((keys / "user_key.pub").read_text())
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    port = _free_port()
    (keys / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {keys / 'host_key'}\nPidFile {keys / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {keys / 'authorized_keys'}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\n"
        "Subsystem sftp internal-sftp\n"
    )
    server = subprocess.Popen([sshd, "-D", "-e", "-f", str(keys / "sshd_config")], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 20
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert server.poll() is None, f"sshd did not start: {server.stderr.read()}"
            assert time.time() < deadline, "sshd did not listen within 20 s"
            time.sleep(0.1)
        yield {
            "url": f"ssh://{getpass.getuser()}@127.0.0.1:{port}{tmp_path / 'ssh-storage'}",
            "keyfile": str(keys / "user_key"),
        }
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    """A clone whose demo experiment has been computed with `make repro` and committed
    (dvc.lock), after the README's `dvc status`, `dvc metrics show` and `dvc plots show`."""
    repo = _project(tmp_path_factory.mktemp("origin") / "origin")
    _make(repo, "repro", "EXPERIMENT=demo")
    assert "up to date" in _run(repo, "dvc", "status", "experiment@demo")
    shown = _run(repo, "dvc", "metrics", "show")
    assert re.search(r"digits/mlp\.weightmom\s", shown) and re.search(r"digits/mlp\.dense\s", shown), shown
    assert len(shown.splitlines()[0].split()) <= 6, shown  # Path and one column per method and dense
    _run(repo, "dvc", "plots", "show")
    assert (repo / "dvc_plots/index.html").exists()
    # dvc_plots/ is ignored; dvc.lock is what the README says to commit
    assert _run(repo, "git", "status", "--porcelain", "--untracked-files=all") == "?? dvc.lock\n"
    _commit(repo, "results")
    return repo


def _set_remote(repo: Path, remote: dict[str, str]) -> None:
    _run(repo, "dvc", "remote", "modify", "--local", "storage", "url", remote["url"])
    if "keyfile" in remote:
        _run(repo, "dvc", "remote", "modify", "--local", "storage", "keyfile", remote["keyfile"])


@pytest.mark.parametrize("kind", ["directory", "ssh"])
@pytest.mark.slow
def test_push_pull_round_trip_and_staleness(kind, computed, tmp_path, request):
    remote = {"url": str(tmp_path / "storage")} if kind == "directory" else request.getfixturevalue("ssh_remote")
    _set_remote(computed, remote)
    _run(computed, "dvc", "push", "experiment@demo")  # the README's commands from here on

    clone = tmp_path / "clone"
    _run(tmp_path, "git", "clone", "-q", str(computed), str(clone))
    _set_remote(clone, remote)
    method = clone / "src/weightmom/pruning/methods/magnitude.py"
    method.write_text(method.read_text() + "\n# an edit the pulled results were not made with\n")
    refused = subprocess.run(
        _make_command("pull", "EXPERIMENT=demo"),
        cwd=clone,
        env=_env(clone),
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0 and "not marked up to date" in refused.stderr
    assert not (clone / ".snakemake/metadata").exists()  # nothing touched
    _run(clone, "git", "checkout", "--", str(method.relative_to(clone)))
    _make(clone, "pull", "EXPERIMENT=demo")
    assert "Nothing to be done" in _run(clone, "snakemake", "-n", "--configfile", "config/demo.yaml")
    tables = [path for path in (computed / "results/demo/tables").rglob("*") if path.is_file()]
    assert any(path.parent.name == "deployment" for path in tables)  # sub-folders too
    for table in tables:
        relative = table.relative_to(computed)
        assert (clone / relative).read_bytes() == table.read_bytes(), relative
    assert (clone / f"{DEMO_RUNS}/seed1/magnitude/round2/checkpoint.pt").read_bytes() == (
        computed / f"{DEMO_RUNS}/seed1/magnitude/round2/checkpoint.pt"
    ).read_bytes()
    assert "up to date" in _run(clone, "dvc", "status", "experiment@demo")

    _set_finetune_epochs(clone, 2)
    dvc_status = _run(clone, "dvc", "status", "experiment@demo")
    assert "changed deps" in dvc_status and "config/demo.yaml" in dvc_status
    plan = _job_counts(_run(clone, "snakemake", "-n", "--configfile", "config/demo.yaml"))
    assert plan["prune_round"] == 8 and "train_dense" not in plan


@pytest.mark.slow
def test_plots_draw_a_line_per_method_with_compression_on_x(computed):
    shown = json.loads(_run(computed, "dvc", "plots", "show", "--json", "results/demo/summary/accuracy.csv"))
    (plot,) = shown["data"]["results/demo/summary/accuracy.csv"]
    spec = plot["content"]
    encoding = spec["spec"]["encoding"]
    assert encoding["x"]["field"] == "compression_ratio" and encoding["x"]["scale"]["type"] == "log"
    assert encoding["y"]["field"] == "top1" and encoding["color"]["field"] == "method"
    assert spec["facet"]["field"] == "panel"
    values = spec["data"]["values"]
    assert {row["method"] for row in values} == {"weightmom", "magnitude"}
    assert {row["panel"] for row in values} == {"digits / mlp"}
    assert len(values) == 2 * 3  # two methods, rounds 0..2


@pytest.mark.slow
def test_plots_draw_the_fine_tuning_curves_a_line_per_method(computed):
    shown = json.loads(_run(computed, "dvc", "plots", "show", "--json", "results/demo/summary/curves.csv"))
    (plot,) = shown["data"]["results/demo/summary/curves.csv"]
    spec = plot["content"]
    encoding = spec["spec"]["encoding"]
    assert encoding["x"]["field"] == "step" and encoding["y"]["field"] == "val_top1"
    assert encoding["color"]["field"] == "method" and spec["facet"]["field"] == "panel"
    values = spec["data"]["values"]
    assert {row["method"] for row in values} == {"weightmom", "magnitude"}
    assert sorted(int(row["step"]) for row in values if row["method"] == "magnitude") == [1, 2]  # 2 rounds x 1 epoch
