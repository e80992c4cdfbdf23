localrules:
    collect,
    table,
    claims,
    paper_table,
    accuracy_figure,
    density_figure,
    curves_figure,


rule collect:
    input:
        metrics=all_metric_rows("metrics"),
        layers=all_metric_rows("layers"),
        curves=all_metric_rows("curve"),
    output:
        metrics=f"{OUT}/metrics.parquet",
        layers=f"{OUT}/layers.parquet",
        curves=f"{OUT}/curves.parquet",
        summary_json=f"{OUT}/summary/metrics.json",
        summary_csv=f"{OUT}/summary/accuracy.csv",
        curves_csv=f"{OUT}/summary/curves.csv",
    params:
        methods=METHODS,
        target_round=TARGET_ROUND,
        code=step_digest("report"),
    log:
        f"{LOGS}/collect.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m weightmom collect --methods {params.methods} --metric-rows {input.metrics}"
        " --layer-rows {input.layers} --curve-rows {input.curves} --metrics-out {output.metrics}"
        " --layers-out {output.layers} --curves-out {output.curves} --summary-json {output.summary_json}"
        " --summary-csv {output.summary_csv} --curves-csv {output.curves_csv} --target-round {params.target_round}"
        " 2> {log}"


rule table:
    input:
        metrics=lambda wildcards: table_rows(wildcards.table),
        predictions=lambda wildcards: table_rows(wildcards.table, "predictions", final_only=True),
    output:
        md=f"{OUT}/tables/{{table}}.md",
        tex=f"{OUT}/tables/{{table}}.tex",
        html=report(
            f"{OUT}/tables/{{table}}.html",
            caption="../report/table.rst",
            category="Tables",
            subcategory="{table}",
        ),
        csv=f"{OUT}/tables/{{table}}.csv",
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
        " --method-options {params.options:q} --metric-rows {input.metrics}"
        " --prediction-rows {input.predictions} --out-prefix {params.prefix} 2> {log}"


rule claims:
    input:
        metrics=all_metric_rows("metrics"),
        predictions=target_rows("predictions"),
    output:
        md=f"{OUT}/tables/claims.md",
        html=report(f"{OUT}/tables/claims.html", caption="../report/claims.rst", category="Claims"),
        csv=f"{OUT}/tables/claims.csv",
        parquet=f"{OUT}/tables/claims.parquet",
    params:
        title=f"The paper's claims, checked: experiment {EXPERIMENT}",
        method=config["claims"]["method"],
        options=as_json(config["methods"]),
        target=config["pruning"]["target_compression"],
        tolerance=config["claims"]["tolerance"],
        paper_datasets=as_json(paper_datasets()),
        protocol=as_json({key: config[key] for key in ("training", "pruning", "seeds")}),
        prefix=lambda wildcards, output: os.path.splitext(output.md)[0],
        code=step_digest("report"),
    log:
        f"{LOGS}/tables/claims.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m weightmom claims --title {params.title:q} --method {params.method}"
        " --method-options {params.options:q} --target-compression {params.target} --tolerance {params.tolerance}"
        " --paper-datasets {params.paper_datasets:q} --protocol {params.protocol:q} --metric-rows {input.metrics}"
        " --prediction-rows {input.predictions} --out-prefix {params.prefix} 2> {log}"


rule paper_table:
    input:
        all_metric_rows("metrics"),
    output:
        md=f"{OUT}/tables/paper.md",
        html=report(f"{OUT}/tables/paper.html", caption="../report/paper_table.rst", category="Claims"),
        tex=f"{OUT}/tables/paper.tex",
    params:
        title=f"Top-1 at {config['pruning']['target_compression']:g}x compression: experiment {EXPERIMENT}",
        cells=as_json(paper_cells()[0]),
        methods=paper_cells()[1],
        claimed=config["claims"]["method"],
        target=config["pruning"]["target_compression"],
        tolerance=config["claims"]["tolerance"],
        last_round=ROUNDS,
        prefix=lambda wildcards, output: os.path.splitext(output.md)[0],
        code=step_digest("report"),
    log:
        f"{LOGS}/tables/paper.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m weightmom paper-table --title {params.title:q} --cells {params.cells:q} --methods {params.methods}"
        " --claimed {params.claimed} --target-compression {params.target} --tolerance {params.tolerance}"
        " --last-round {params.last_round} --metric-rows {input} --out-prefix {params.prefix} 2> {log}"


rule accuracy_figure:
    input:
        lambda wildcards: table_rows(wildcards.table, "metrics", wildcards.model),
    output:
        png=report(
            f"{OUT}/figures/{{table}}/{{model}}_accuracy.png",
            caption="../report/accuracy_figure.rst",
            category="Figures",
            subcategory="{table}",
        ),
        pdf=f"{OUT}/figures/{{table}}/{{model}}_accuracy.pdf",
        svg=f"{OUT}/figures/{{table}}/{{model}}_accuracy.svg",
    params:
        title=lambda wildcards: figure_title(wildcards, "top-1 vs compression"),
        methods=lambda wildcards: table_methods(wildcards.table),
        target=config["pruning"]["target_compression"],
        code=step_digest("report"),
    log:
        f"{LOGS}/figures/{{table}}/{{model}}_accuracy.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m weightmom figure --title {params.title:q} --methods {params.methods}"
        " --target-compression {params.target} --metric-rows {input} --out {output.png} 2> {log}"


rule density_figure:
    input:
        lambda wildcards: table_rows(wildcards.table, "layers", wildcards.model, final_only=True),
    output:
        png=report(
            f"{OUT}/figures/{{table}}/{{model}}_density.png",
            caption="../report/density_figure.rst",
            category="Figures",
            subcategory="{table}",
        ),
        pdf=f"{OUT}/figures/{{table}}/{{model}}_density.pdf",
        svg=f"{OUT}/figures/{{table}}/{{model}}_density.svg",
    params:
        title=lambda wildcards: figure_title(wildcards, f"layer density at {config['pruning']['target_compression']:g}x"),
        methods=lambda wildcards: table_methods(wildcards.table),
        code=step_digest("report"),
    log:
        f"{LOGS}/figures/{{table}}/{{model}}_density.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m weightmom density-figure --title {params.title:q} --methods {params.methods}"
        " --layer-rows {input} --out {output.png} 2> {log}"


rule curves_figure:
    input:
        lambda wildcards: table_rows(wildcards.table, "curve", wildcards.model),
    output:
        png=report(
            f"{OUT}/figures/{{table}}/{{model}}_curves.png",
            caption="../report/curves_figure.rst",
            category="Figures",
            subcategory="{table}",
        ),
        pdf=f"{OUT}/figures/{{table}}/{{model}}_curves.pdf",
        svg=f"{OUT}/figures/{{table}}/{{model}}_curves.svg",
    params:
        title=lambda wildcards: figure_title(wildcards, "fine-tuning curves"),
        methods=lambda wildcards: table_methods(wildcards.table),
        code=step_digest("report"),
    log:
        f"{LOGS}/figures/{{table}}/{{model}}_curves.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m weightmom curves-figure --title {params.title:q} --methods {params.methods}"
        " --curve-rows {input} --out {output.png} 2> {log}"
