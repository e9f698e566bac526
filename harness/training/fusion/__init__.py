"""Fused trials: compatible trials trained together as one stacked model, each still a trial of its own.

rule.py     which trials may share one model (the rule, stated once)
packing.py  packing a sweep's trials into groups of at most `sweep.fuse` members
trials.py   a group run with the steps of training/trial.py, member by member
loop.py     the shared training: the members' steps together, their callbacks replayed
stacked.py  the stacked weights and the compiled step shared by every group of one kind
"""
