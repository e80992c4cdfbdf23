"""Kill/restart cycles of a real training job: does every restart finish with the same result?

Each cycle starts `python -m weightmom train` (the step the workflow's train_dense rule
runs) in a fresh output directory, SIGKILLs it at a random moment of its training (seeded,
uniform over the reference run's training time and a little beyond: mid-epoch, during a
per-epoch resume write, during or after the final checkpoint write), runs the same command
again to completion, evaluates the checkpoint and compares it with an uninterrupted
reference run:

    survived           the restart exited 0, its checkpoint loads, no temporary is left
    metric mismatch    the evaluation row (top-1, top-5, loss, sparsity, ...) differs
    weight mismatch    any weight of the final checkpoint differs bit for bit

Exit status 1 unless every cycle survived with no mismatch.

    python benchmarks/fault_injection.py                    # 20 cycles, digits CNN, 8 epochs
    python benchmarks/fault_injection.py --cycles 100 --model mlp
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import torch

from weightmom.training.checkpoint import load_checkpoint

#: columns that legitimately differ between two runs of the same job
VOLATILE = ["train_seconds", "git_commit"]
RECIPE = {"epochs": 8, "batch_size": 64, "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, "lr_schedule": "cosine"}


def weightmom(*args: str) -> list[str]:
    return [sys.executable, "-m", "weightmom", *args]


def train_command(args: argparse.Namespace, data: Path, out: Path) -> list[str]:
    recipe = {**RECIPE, "epochs": args.epochs}
    return weightmom(
        "train",
        "--data",
        str(data),
        "--dataset",
        "digits",
        "--model",
        args.model,
        "--seed",
        "0",
        "--recipe",
        json.dumps(recipe),
        "--threads",
        "1",
        "--device",
        "cpu",
        "--out",
        str(out),
    )


def evaluate(checkpoint: Path, data: Path) -> pd.DataFrame:
    metrics, layers = checkpoint.with_name("metrics.parquet"), checkpoint.with_name("layers.parquet")
    subprocess.run(
        weightmom(
            "evaluate",
            "--checkpoint",
            str(checkpoint),
            "--data",
            str(data),
            "--threads",
            "1",
            "--device",
            "cpu",
            "--metrics-out",
            str(metrics),
            "--layers-out",
            str(layers),
        ),
        check=True,
    )
    return pd.read_parquet(metrics).drop(columns=VOLATILE)


def saved_epoch(resume: Path) -> str:
    """What the killed job had saved: its resume epoch, 'done' or 'nothing'."""
    if resume.with_name("checkpoint.pt").exists():
        return "done"
    if not resume.exists():
        return "nothing"
    return f"epoch {torch.load(resume, weights_only=True)['epoch']}"


def start_training(command: list[str]) -> tuple[subprocess.Popen, float]:
    """Start a training job; return it and the moment its first epoch began (its progress
    bar appeared), so that kills land in training rather than in Python's start-up."""
    job = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = b""
    while b"%|" not in seen:
        chunk = os.read(job.stderr.fileno(), 4096)
        if not chunk:
            break
        seen += chunk
    started = time.monotonic()
    threading.Thread(target=job.stderr.read, daemon=True).start()  # keep the pipe drained
    return job, started


def cycle(args: argparse.Namespace, data: Path, out: Path, kill_after: float, reference: dict) -> dict:
    job, started = start_training(train_command(args, data, out))
    time.sleep(max(0.0, kill_after - (time.monotonic() - started)))
    killed = job.poll() is None
    job.send_signal(signal.SIGKILL)
    job.wait()
    state = saved_epoch(out.with_name("resume.pt"))
    restart = subprocess.run(
        train_command(args, data, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    report = {
        "kill_after_s": round(kill_after, 2),
        "killed": killed,
        "saved_at_kill": state,
        "restart_rc": restart.returncode,
    }
    if restart.returncode != 0:
        print(restart.stderr[-2000:], file=sys.stderr)
        return {**report, "survived": False, "metric_match": False, "weight_match": False}
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(".tmp-") or p.name == "resume.pt"]
    weights = load_checkpoint(out).state_dict
    metrics = evaluate(out, data)
    return {
        **report,
        "survived": not leftovers,
        "metric_match": metrics.equals(reference["metrics"]),
        "weight_match": all(torch.equal(weights[k], reference["weights"][k]) for k in reference["weights"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--model", default="cnn", choices=["mlp", "cnn"])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0, help="seeds the kill moments")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/weightmom-fault-injection"))
    args = parser.parse_args()

    data = args.workdir / "data"
    subprocess.run(
        weightmom(
            "prepare",
            "--spec",
            json.dumps({"source": "digits", "test_fraction": 0.25, "split_seed": 0}),
            "--raw-dir",
            str(args.workdir / "raw"),
            "--out-dir",
            str(data),
        ),
        check=True,
    )
    reference_out = args.workdir / "reference/checkpoint.pt"
    reference_out.unlink(missing_ok=True)
    job, started = start_training(train_command(args, data, reference_out))
    if job.wait() != 0:
        raise SystemExit("the reference training run failed")
    duration = time.monotonic() - started
    reference = {"metrics": evaluate(reference_out, data), "weights": load_checkpoint(reference_out).state_dict}
    print(
        f"reference: {args.model}, {args.epochs} epochs, {duration:.1f} s of training; top-1 {reference['metrics']['top1'].iloc[0]:.4f}"
    )

    rng = random.Random(args.seed)
    rows = []
    for index in range(1, args.cycles + 1):
        out = args.workdir / f"cycle{index:03d}/checkpoint.pt"
        for stale in out.parent.glob("*") if out.parent.exists() else []:
            stale.unlink()
        row = {"cycle": index, **cycle(args, data, out, rng.uniform(0.0, 1.05) * duration, reference)}
        rows.append(row)
        print(", ".join(f"{k} {v}" for k, v in row.items()), flush=True)

    table = pd.DataFrame(rows)
    survived = int(table["survived"].sum())
    metric_mismatches = int((~table["metric_match"]).sum())
    weight_mismatches = int((~table["weight_match"]).sum())
    killed = int(table["killed"].sum())
    print(
        f"\ncycles survived: {survived}/{args.cycles}; metric mismatches: {metric_mismatches}; "
        f"weight mismatches: {weight_mismatches} ({killed} cycles killed the job while it ran, "
        f"{args.cycles - killed} found it already finished)"
    )
    return 0 if survived == args.cycles and metric_mismatches == 0 and weight_mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
