"""Search: which trial to train next, and which to stop early.

strategies.py  the interface every method implements (ask/tell), grid, random and list
tpe.py         Optuna's TPE, choosing settings from the results so far
pruners.py     when a running trial stops early (ASHA, median), for any strategy

A method is found by name through harness/config/methods.py, the registry the config checks.
"""
