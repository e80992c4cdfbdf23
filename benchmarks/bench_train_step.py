"""Training throughput of the project's trainer against a minimal plain-PyTorch loop.

Same model, same data (CIFAR-shaped uint8 images held in memory), same batch size and
optimizer, no augmentation in either. Each repeat times the four variants back to back (in
a shuffled order, seeded), so each ratio is taken between runs seconds apart, and machine
noise that drifts over minutes cancels. A ratio is reported as the median over repeats, the
interquartile range (IQR) of the single ratios (the noise of one pair of runs), and a 95%
bootstrap confidence interval of the median (scipy), which narrows with more repeats:

    plain          a minimal loop: index, normalise, forward, backward, SGD step
    trainer        weightmom.training.loop.train, dense, contiguous layout like the plain loop
    masked         the trainer with masks at 15x compression enforced every step
    channels_last  the trainer in the channels-last layout (the config's default, on any device)

Goals: trainer >= 90% of plain, masked >= 97% of trainer (unmasked). A goal is "met" when
the confidence interval of its median ratio lies at or above it, "NOT met" when it lies
below, and "within the noise" otherwise (run more repeats); exit status 0 only when every
goal is met. channels_last / trainer is reported, with no goal.

    python benchmarks/bench_train_step.py                       # ResNet-20, CPU, 2 threads
    python benchmarks/bench_train_step.py --model vgg16_bn --device cuda
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import bootstrap

from weightmom.data.splits import Split
from weightmom.models import build_model, prunable_parameters
from weightmom.pruning import ScoringContext, build_pruner
from weightmom.runtime.devices import resolve_device
from weightmom.training.loop import train
from weightmom.training.masks import MaskEnforcer, full_masks
from weightmom.training.recipe import Accelerator, Recipe

GOALS = {("trainer", "plain"): 0.90, ("masked", "trainer"): 0.97}
REPORTED = [("trainer", "plain"), ("masked", "trainer"), ("channels_last", "trainer")]


def synthetic_split(images: int, device: torch.device) -> Split:
    generator = torch.Generator().manual_seed(0)
    return Split(
        torch.randint(0, 256, (images, 3, 32, 32), dtype=torch.uint8, generator=generator),
        torch.randint(0, 10, (images,), generator=generator),
        tuple(str(i) for i in range(10)),
        torch.full((3,), 0.5),
        torch.full((3,), 0.25),
    ).to(device)


def plain_loop(model: torch.nn.Module, data: Split, recipe: Recipe, seed: int) -> None:
    optimizer = torch.optim.SGD(
        model.parameters(), lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay
    )
    mean, std = data.mean.view(1, -1, 1, 1), data.std.view(1, -1, 1, 1)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(recipe.epochs):
        order = torch.randperm(len(data.labels), generator=generator).to(data.labels.device)
        for begin in range(0, len(order), recipe.batch_size):
            index = order[begin : begin + recipe.batch_size]
            inputs = (data.images[index].float() / 255 - mean) / std
            loss = F.cross_entropy(model(inputs), data.labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--images", type=int, default=1536, help="images per epoch")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=15, help="paired repeats (each times every variant once)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    data = synthetic_split(args.images, device)
    recipe = Recipe(
        epochs=1, batch_size=args.batch_size, lr=0.05, momentum=0.9, weight_decay=5e-4, lr_schedule="constant"
    )
    # The plain loop has none of the speed switches, so the trainer runs without them too.
    plain_speed = Accelerator(channels_last=False, bf16_autocast=False, compile=False)

    def fresh_model() -> torch.nn.Module:
        torch.manual_seed(0)
        return build_model(args.model, (3, 32, 32), 10).to(device)

    def masked_run(model: torch.nn.Module) -> None:
        params = prunable_parameters(model)
        pruner = build_pruner("global_magnitude", {"min_density": 0.0})
        total = sum(p.numel() for p in params.values())
        masks = pruner.prune(ScoringContext(params, full_masks(params), {}, torch.Generator()), round(total / 15))
        train(
            model,
            data,
            recipe,
            seed=0,
            accelerator=plain_speed,
            enforcer=MaskEnforcer(params, masks),
            description="masked",
        )

    runs = {
        "plain": lambda model: plain_loop(model, data, recipe, 0),
        "trainer": lambda model: train(model, data, recipe, seed=0, accelerator=plain_speed, description="trainer"),
        "masked": masked_run,
        "channels_last": lambda model: train(
            model,
            data,
            recipe,
            seed=0,
            accelerator=Accelerator(channels_last=True, bf16_autocast=False, compile=False),
            description="channels_last",
        ),
    }
    timings: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():  # warm-up: allocator, kernels, thread pools
        run(fresh_model())
    order = list(runs)
    shuffle = random.Random(0)
    for _ in range(args.repeats):
        shuffle.shuffle(order)
        for name in order:
            model = fresh_model()
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            runs[name](model)
            if device.type == "cuda":
                torch.cuda.synchronize()
            timings[name].append(args.images / (time.perf_counter() - start))
    print(
        f"model {args.model}, device {device}, threads {args.threads}, batch {args.batch_size}, "
        f"{args.images} images x {args.repeats} paired repeats"
    )
    for name, values in timings.items():
        low, mid, high = statistics.quantiles(values, n=4)
        print(f"  {name:13s} median {mid:8.1f} images/s   IQR {low:.1f} .. {high:.1f}")
    all_met = True
    for pair in REPORTED:
        ratios = np.array(timings[pair[0]]) / np.array(timings[pair[1]])
        low, mid, high = statistics.quantiles(ratios, n=4)
        interval = bootstrap(
            (ratios,), np.median, confidence_level=0.95, method="percentile", random_state=0
        ).confidence_interval
        goal = GOALS.get(pair)
        verdict = "no goal"
        if goal is not None:
            verdict = (
                "met"
                if interval.low >= goal
                else "NOT met"
                if interval.high < goal
                else "within the noise: run more repeats"
            )
            all_met = all_met and interval.low >= goal
        print(
            f"{pair[0] + ' / ' + pair[1]:23s} = {mid:.3f}  IQR {low:.3f} .. {high:.3f}  "
            f"95% CI of the median {interval.low:.3f} .. {interval.high:.3f}  "
            f"(goal {'>= ' + format(goal, '.2f') if goal else '-'}: {verdict})"
        )
    return 0 if all_met else 1


if __name__ == "__main__":
    raise SystemExit(main())
