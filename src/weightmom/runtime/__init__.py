"""Where and how jobs run: device choice and GPU slot locks, the planned training jobs, and the
cost projection and preflight that stop a run too big for its machine. Imports training and
everything below it, never reporting or steps.
"""
