rule train_dense:
    input:
        train=f"{OUT}/data/{{dataset}}/train.npz",
        val=f"{OUT}/data/{{dataset}}/val.npz",
    output:
        checkpoint=f"{OUT}/runs/{{dataset}}/{{model}}/seed{{seed}}/dense/checkpoint.pt",
        curve=f"{OUT}/runs/{{dataset}}/{{model}}/seed{{seed}}/dense/curve.parquet",
    params:
        recipe=as_json(config["training"]["dense"]),
        snapshots=" ".join(map(str, snapshot_epochs())),
        accelerator=as_json(config["accelerator"]),
        device=config["device"],
        code=step_digest("train"),
        reuse_from=lambda w: dense_runs_elsewhere(w.dataset, w.model, w.seed),
    threads: config["threads"]["train"]
    resources:
        gpu=GPU_JOBS,
    group:
        step_group
    log:
        f"{LOGS}/{{dataset}}/{{model}}/seed{{seed}}/dense/train.log",
    benchmark:
        f"{LOGS}/benchmarks/{{dataset}}/{{model}}/seed{{seed}}/dense/train.tsv"
    conda:
        "../../environment.yml"
    shell:
        "python -m weightmom train --data $(dirname {input.train}) --dataset {wildcards.dataset}"
        " --model {wildcards.model} --seed {wildcards.seed} --recipe {params.recipe:q}"
        " --snapshot-epochs {params.snapshots}"
        " --accelerator {params.accelerator:q} --threads {threads} --device {params.device}"
        " --out {output.checkpoint} --curve-out {output.curve}"
        " --reuse-from {params.reuse_from:q} --reuse-lock-dir results/.dense-locks 2> {log}"
