localrules:
    collect,
    table,
    accuracy_figure,
    density_figure,


rule collect:
    input:
        metrics=all_metric_rows("metrics"),
        layers=all_metric_rows("layers"),
    output:
        metrics=f"{OUT}/metrics.parquet",
        layers=f"{OUT}/layers.parquet",
        summary_json=f"{OUT}/summary/metrics.json",
        summary_csv=f"{OUT}/summary/accuracy.csv",
    params:
        methods=METHODS,
        code=step_digest("report"),
    log:
        f"{LOGS}/collect.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m weightmom collect --methods {params.methods} --metric-rows {input.metrics}"
        " --layer-rows {input.layers} --metrics-out {output.metrics} --layers-out {output.layers}"
        " --summary-json {output.summary_json} --summary-csv {output.summary_csv} 2> {log}"


rule table:
    input:
        lambda wildcards: table_rows(wildcards.table),
    output:
        md=f"{OUT}/tables/{{table}}.md",
        tex=f"{OUT}/tables/{{table}}.tex",
        csv=report(
            f"{OUT}/tables/{{table}}.csv",
            caption="../report/table.rst",
            category="Tables",
            subcategory="{table}",
        ),
        parquet=f"{OUT}/tables/{{table}}.parquet",
    params:
        title=lambda wildcards: config["tables"][wildcards.table].get("title", wildcards.table),
        kind=lambda wildcards: config["tables"][wildcards.table]["kind"],
        models=lambda wildcards: config["tables"][wildcards.table]["models"],
        methods=lambda wildcards: table_methods(wildcards.table),
        options=lambda wildcards: as_json({m: config["methods"][m] for m in table_methods(wildcards.table)}),
        tolerance=lambda wildcards: config["tables"][wildcards.table]["tolerance"],
        target=config["pruning"]["target_compression"],
        prefix=f"{OUT}/tables/{{table}}",
        code=step_digest("report"),
    log:
        f"{LOGS}/tables/{{table}}.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m weightmom table --title {params.title:q} --kind {params.kind} --models {params.models}"
        " --methods {params.methods} --target-compression {params.target} --tolerance {params.tolerance}"
        " --method-options {params.options:q} --metric-rows {input} --out-prefix {params.prefix} 2> {log}"


rule accuracy_figure:
    input:
        lambda wildcards: table_rows(wildcards.table, "metrics", wildcards.model),
    output:
        report(
            f"{OUT}/figures/{{table}}/{{model}}_accuracy.png",
            caption="../report/accuracy_figure.rst",
            category="Figures",
            subcategory="{table}",
        ),
    params:
        title=lambda wildcards: f"{config['tables'][wildcards.table]['dataset']} / {wildcards.model}: top-1 vs compression",
        methods=lambda wildcards: table_methods(wildcards.table),
        code=step_digest("report"),
    log:
        f"{LOGS}/figures/{{table}}/{{model}}_accuracy.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m weightmom figure --title {params.title:q} --methods {params.methods}"
        " --metric-rows {input} --out {output} 2> {log}"


rule density_figure:
    input:
        lambda wildcards: table_rows(wildcards.table, "layers", wildcards.model, final_only=True),
    output:
        report(
            f"{OUT}/figures/{{table}}/{{model}}_density.png",
            caption="../report/density_figure.rst",
            category="Figures",
            subcategory="{table}",
        ),
    params:
        title=lambda wildcards: f"{config['tables'][wildcards.table]['dataset']} / {wildcards.model}: layer density at the final round",
        methods=lambda wildcards: table_methods(wildcards.table),
        code=step_digest("report"),
    log:
        f"{LOGS}/figures/{{table}}/{{model}}_density.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m weightmom density-figure --title {params.title:q} --methods {params.methods}"
        " --layer-rows {input} --out {output} 2> {log}"
