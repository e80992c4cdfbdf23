# Deployment: each table's dense networks and final-round networks exported as a sparse
# weight file and an ONNX file (both checked), with their sizes and CPU latency; the rows
# gathered into exports.parquet and a deployment table per paper table.
localrules:
    collect_exports,
    deployment_table,


rule export:
    input:
        checkpoint=f"{OUT}/runs/{{dataset}}/{{model}}/seed{{seed}}/{{stage}}/checkpoint.pt",
        dense=f"{OUT}/runs/{{dataset}}/{{model}}/seed{{seed}}/dense/checkpoint.pt",
        # the dense network's ONNX file, timed beside this one (none for the dense export itself)
        dense_onnx=lambda wildcards: (
            []
            if wildcards.stage == "dense"
            else f"{OUT}/runs/{wildcards.dataset}/{wildcards.model}/seed{wildcards.seed}/dense/model.onnx"
        ),
        test=f"{OUT}/data/{{dataset}}/test.npz",
    output:
        sparse=f"{OUT}/runs/{{dataset}}/{{model}}/seed{{seed}}/{{stage}}/model.safetensors",
        onnx=f"{OUT}/runs/{{dataset}}/{{model}}/seed{{seed}}/{{stage}}/model.onnx",
        rows=f"{OUT}/runs/{{dataset}}/{{model}}/seed{{seed}}/{{stage}}/export.parquet",
    params:
        code=step_digest("export"),
        dense_onnx=lambda wildcards, input: f"--dense-onnx {input.dense_onnx}" if input.dense_onnx else "",
        method=lambda wildcards: wildcards.stage.split("/")[0],
        round=lambda wildcards: 0 if wildcards.stage == "dense" else int(wildcards.stage.rsplit("round", 1)[1]),
    # the latency is measured on this many threads (torch and onnxruntime)
    threads: config["threads"]["export"]
    group:
        step_group
    wildcard_constraints:
        stage=r"dense|[A-Za-z0-9][A-Za-z0-9_-]*/round[1-9]\d*",
    log:
        f"{LOGS}/{{dataset}}/{{model}}/seed{{seed}}/{{stage}}/export.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m weightmom export --checkpoint {input.checkpoint} --dense-checkpoint {input.dense}"
        " {params.dense_onnx} --data $(dirname {input.test}) --threads {threads}"
        " --expect-dataset {wildcards.dataset} --expect-model {wildcards.model} --expect-seed {wildcards.seed}"
        " --expect-method {params.method} --expect-round {params.round}"
        " --sparse-out {output.sparse} --onnx-out {output.onnx} --rows-out {output.rows} 2> {log}"


rule collect_exports:
    input:
        export_rows(),
    output:
        f"{OUT}/exports.parquet",
    params:
        code=step_digest("report"),
    log:
        f"{LOGS}/collect_exports.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m weightmom collect-exports --export-rows {input} --out {output} 2> {log}"


rule deployment_table:
    input:
        lambda wildcards: export_rows(wildcards.table),
    output:
        md=f"{OUT}/tables/deployment/{{table}}.md",
        html=report(
            f"{OUT}/tables/deployment/{{table}}.html",
            caption="../report/deployment_table.rst",
            category="Deployment",
            subcategory="{table}",
        ),
        csv=f"{OUT}/tables/deployment/{{table}}.csv",
    params:
        title=lambda wildcards: config["tables"][wildcards.table].get("title", wildcards.table)
        + ": size on disk and CPU latency of the exported networks",
        models=lambda wildcards: config["tables"][wildcards.table]["models"],
        methods=lambda wildcards: table_methods(wildcards.table),
        prefix=f"{OUT}/tables/deployment/{{table}}",
        code=step_digest("report"),
    log:
        f"{LOGS}/tables/deployment/{{table}}.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m weightmom deployment-table --title {params.title:q} --models {params.models}"
        " --methods {params.methods} --export-rows {input} --out-prefix {params.prefix} 2> {log}"
