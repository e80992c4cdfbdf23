rule prune_round:
    input:
        checkpoint=previous_checkpoint,
        dense=f"{OUT}/runs/{{dataset}}/{{model}}/seed{{seed}}/dense/checkpoint.pt",
        train=f"{OUT}/data/{{dataset}}/train.npz",
        val=f"{OUT}/data/{{dataset}}/val.npz",
    output:
        checkpoint=f"{OUT}/runs/{{dataset}}/{{model}}/seed{{seed}}/{{method}}/round{{round}}/checkpoint.pt",
        curve=f"{OUT}/runs/{{dataset}}/{{model}}/seed{{seed}}/{{method}}/round{{round}}/curve.parquet",
    params:
        pruner=lambda wildcards: config["methods"][wildcards.method]["pruner"],
        options=lambda wildcards: as_json(
            {k: v for k, v in config["methods"][wildcards.method].items() if k != "pruner"}
        ),
        pruning=lambda wildcards: as_json(round_pruning(int(wildcards.round))),
        recipe=as_json(config["training"]["finetune"]),
        dense_recipe=as_json(config["training"]["dense"]),
        accelerator=as_json(config["accelerator"]),
        device=config["device"],
        code=method_code,
    threads: config["threads"]["prune"]
    resources:
        gpu=GPU_JOBS,
    group:
        step_group
    log:
        f"{LOGS}/{{dataset}}/{{model}}/seed{{seed}}/{{method}}/round{{round}}/prune.log",
    benchmark:
        f"{LOGS}/benchmarks/{{dataset}}/{{model}}/seed{{seed}}/{{method}}/round{{round}}/prune.tsv"
    conda:
        "../../environment.yml"
    shell:
        "python -m weightmom prune --checkpoint {input.checkpoint} --data $(dirname {input.train})"
        " --method {wildcards.method} --pruner {params.pruner} --pruner-options {params.options:q}"
        " --pruning {params.pruning:q} --round {wildcards.round} --recipe {params.recipe:q}"
        " --dense-checkpoint {input.dense} --dense-recipe {params.dense_recipe:q}"
        " --accelerator {params.accelerator:q} --threads {threads} --device {params.device}"
        " --expect-dataset {wildcards.dataset} --expect-model {wildcards.model} --expect-seed {wildcards.seed}"
        " --out {output.checkpoint} --curve-out {output.curve} 2> {log}"
