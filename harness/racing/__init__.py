"""The race: which setting is best, and by how much (`sweep.confirm`, `python -m harness confirm`).

stats.py    the tests: each rival against the leader, Holm's correction, equivalence, P(best)
rounds.py   one race replayed from the seeds known so far: who is dropped, when it ends
confirm.py  the race as the sweep's last stage (a strategy wrapping the search's)
verdict.py  the answer, as stored in runs/E/confirm.json and printed

The command that starts one on a finished sweep is harness/cli.py's `confirm_main`.
"""
