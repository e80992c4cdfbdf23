rule download_data:
    output:
        "data/raw/{dataset}/{archive}",
    params:
        spec=lambda wildcards: as_json(config["datasets"][wildcards.dataset]),
    wildcard_constraints:
        archive=r"[^/]+\.(tar\.gz|tgz|tar)",
    log:
        "logs/download/{dataset}/{archive}.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m weightmom download --spec {params.spec:q} --raw-dir $(dirname {output}) 2> {log}"


rule prepare_data:
    input:
        raw_inputs,
    output:
        train="data/prepared/{dataset}/train.npz",
        val="data/prepared/{dataset}/val.npz",
        test="data/prepared/{dataset}/test.npz",
    params:
        spec=lambda wildcards: as_json(config["datasets"][wildcards.dataset]),
        images=image_fingerprint,
        raw_dir=lambda wildcards: f"data/raw/{wildcards.dataset}",
        out_dir=lambda wildcards: f"data/prepared/{wildcards.dataset}",
    log:
        "logs/prepare/{dataset}.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m weightmom prepare --spec {params.spec:q} --raw-dir {params.raw_dir}"
        " --out-dir {params.out_dir} 2> {log}"
