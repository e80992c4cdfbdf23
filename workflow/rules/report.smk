localrules:
    collect,
    table,
    figure,


rule collect:
    input:
        metrics=all_metric_rows("metrics"),
        layers=all_metric_rows("layers"),
    output:
        metrics=report(
            "results/metrics.parquet", caption="../report/metrics.rst", category="Metrics"
        ),
        layers="results/layers.parquet",
    params:
        methods=METHODS,
    log:
        "logs/collect.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m weightmom collect --methods {params.methods} --metric-rows {input.metrics}"
        " --layer-rows {input.layers} --metrics-out {output.metrics} --layers-out {output.layers} 2> {log}"


rule table:
    input:
        lambda wildcards: table_metric_rows(wildcards.table),
    output:
        md=report("results/tables/{table}.md", caption="../report/table.rst", category="Tables"),
        csv="results/tables/{table}.csv",
        parquet="results/tables/{table}.parquet",
    params:
        title=lambda wildcards: config["tables"][wildcards.table].get("title", wildcards.table),
        models=lambda wildcards: config["tables"][wildcards.table]["models"],
        methods=METHODS,
        prefix="results/tables/{table}",
    log:
        "logs/tables/{table}.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m weightmom table --title {params.title:q} --models {params.models} --methods {params.methods}"
        " --metric-rows {input} --out-prefix {params.prefix} 2> {log}"


rule figure:
    input:
        lambda wildcards: table_metric_rows(wildcards.table, wildcards.model),
    output:
        report("results/figures/{table}/{model}.png", caption="../report/figure.rst", category="Figures"),
    params:
        title=lambda wildcards: f"{config['tables'][wildcards.table]['dataset']} / {wildcards.model}: top-1 vs compression",
        methods=METHODS,
    log:
        "logs/figures/{table}/{model}.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m weightmom figure --title {params.title:q} --methods {params.methods}"
        " --metric-rows {input} --out {output} 2> {log}"
