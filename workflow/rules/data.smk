rule prepare_data:
    output:
        train="data/prepared/{dataset}/train.npz",
        test="data/prepared/{dataset}/test.npz",
    params:
        spec=lambda wildcards: as_json(config["datasets"][wildcards.dataset]),
        out_dir=lambda wildcards: f"data/prepared/{wildcards.dataset}",
    log:
        "logs/prepare/{dataset}.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m weightmom prepare --spec {params.spec:q} --out-dir {params.out_dir} 2> {log}"
