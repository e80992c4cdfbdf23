rule download_data:
    output:
        "data/raw/{md5}/{archive}",
    params:
        spec=lambda wildcards: as_json(download_spec(wildcards)),
    wildcard_constraints:
        archive=r"[^/]+\.(tar\.gz|tgz|tar)",
    log:
        "logs/download/{md5}/{archive}.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m weightmom download --spec {params.spec:q} --raw-dir $(dirname {output}) 2> {log}"


rule prepare_data:
    input:
        raw_inputs,
    output:
        train=f"{OUT}/data/{{dataset}}/train.npz",
        val=f"{OUT}/data/{{dataset}}/val.npz",
        test=f"{OUT}/data/{{dataset}}/test.npz",
    params:
        spec=lambda wildcards: as_json(config["datasets"][wildcards.dataset]),
        images=image_fingerprint,
        code=step_digest("prepare"),
        raw_dir=lambda wildcards: raw_dir(wildcards.dataset),
        out_dir=lambda wildcards: f"{OUT}/data/{wildcards.dataset}",
    log:
        f"{LOGS}/prepare/{{dataset}}.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m weightmom prepare --spec {params.spec:q} --raw-dir {params.raw_dir}"
        " --out-dir {params.out_dir} 2> {log}"
