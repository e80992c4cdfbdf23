rule evaluate:
    input:
        checkpoint=f"{OUT}/runs/{{dataset}}/{{model}}/seed{{seed}}/{{stage}}/checkpoint.pt",
        val=f"{OUT}/data/{{dataset}}/val.npz",
        test=f"{OUT}/data/{{dataset}}/test.npz",
    output:
        metrics=f"{OUT}/runs/{{dataset}}/{{model}}/seed{{seed}}/{{stage}}/metrics.parquet",
        layers=f"{OUT}/runs/{{dataset}}/{{model}}/seed{{seed}}/{{stage}}/layers.parquet",
        predictions=f"{OUT}/runs/{{dataset}}/{{model}}/seed{{seed}}/{{stage}}/predictions.parquet",
    params:
        device=config["device"],
        code=step_digest("evaluate"),
        method=lambda wildcards: wildcards.stage.split("/")[0],
        round=lambda wildcards: 0 if wildcards.stage == "dense" else int(wildcards.stage.rsplit("round", 1)[1]),
    threads: config["threads"]["evaluate"]
    resources:
        gpu=GPU_JOBS,
    group:
        step_group
    wildcard_constraints:
        stage=r"dense|[A-Za-z0-9][A-Za-z0-9_-]*/round[1-9]\d*",
    log:
        f"{LOGS}/{{dataset}}/{{model}}/seed{{seed}}/{{stage}}/evaluate.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m weightmom evaluate --checkpoint {input.checkpoint} --data $(dirname {input.test})"
        " --threads {threads} --device {params.device}"
        " --expect-dataset {wildcards.dataset} --expect-model {wildcards.model} --expect-seed {wildcards.seed}"
        " --expect-method {params.method} --expect-round {params.round}"
        " --metrics-out {output.metrics} --layers-out {output.layers} --predictions-out {output.predictions} 2> {log}"
