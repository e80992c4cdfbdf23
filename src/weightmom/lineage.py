"""The one name every part shares about a checkpoint's place in its lineage. A module of its
own so that the training steps need not import the metric code (weightmom.provenance.codeversion
reruns a step when a module it imports changes)."""

#: the method name of round 0: the dense checkpoint every method's round 1 starts from
DENSE = "dense"
