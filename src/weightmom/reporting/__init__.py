"""Reading the metric files back: tables, figures, the claims, the paper table, the HTML pages,
the deployment table, `weightmom show` and `weightmom compare`. Imports any stage below it,
never steps or the CLI.
"""
