"""One sweep's HParams experiment, and what each of its trials logs to match it.

A sweep's experiment config lists its swept parameters with their domains (a
sweep of repeats only: the fixed core knobs) plus a `sweep` column naming it,
and the metrics. It is kept as a plain file in eventlog/E/ that TensorBoard
does not read: `hparams_union` merges every sweep's into the one config
TensorBoard reads (see there why only one may exist). Built with
TensorBoard's own protos, so the sweep's main process needs no TensorFlow.
"""

from __future__ import annotations

from tensorboard.compat.proto import summary_pb2
from tensorboard.plugins.hparams import summary_v2

from harness.config import schema as config_mod
from harness.config.schema import ExperimentConfig, scalar
from harness.config.space import Parameter
from harness.layout import run_name
from harness.metrics import dashboard_order

# Shown for a sweep that varies nothing (repeats of one config), instead of swept parameters.
CORE_HPARAMS = ("model.family", "model.hidden", "model.dropout", "train.optimizer", "train.lr", "train.batch_size")
SWEEP = "sweep"  # the hparam naming a trial's sweep: never a config path, so never swept
DATASET = "data.dataset"  # logged by every trial, swept or not: trials of two datasets are never alike


def domain(param: Parameter):
    """The values the trials log for `param`, as TensorBoard's filters match them (None: not known ahead)."""
    listed = config_mod.is_list_key(param.path)  # a list key logs text (`512,256`; `128` for hidden: 128)
    if param.distribution is not None and listed:
        return None
    if param.distribution == "int_uniform":
        return summary_v2.IntInterval(int(param.min), int(param.max))
    if param.distribution is not None:
        return summary_v2.RealInterval(float(param.min), float(param.max))
    values = [scalar(v if isinstance(v, (list, tuple)) or not listed else [v]) for v in param.values]
    if all(isinstance(v, bool) for v in values):
        return summary_v2.Discrete(values)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):  # one dtype: 0 and 0.2 mix
        return summary_v2.Discrete(values if all(isinstance(v, int) for v in values) else [float(v) for v in values])
    return summary_v2.Discrete([str(v) for v in values])


def session_hparams(cfg: ExperimentConfig, settings: dict) -> dict:
    """The hparams a trial logs: its sweep, then its swept values (the core knobs when nothing is swept),
    and its dataset.

    Exactly the sweep's columns and no more: under `--logdir eventlog/E`
    TensorBoard builds the columns from these (there is no config to read).
    """
    flat = config_mod.flatten(config_mod.trial_dict(cfg))
    keys = [*(list(settings) or CORE_HPARAMS), DATASET]
    return {SWEEP: cfg.name, **{k: flat[k] for k in dict.fromkeys(keys) if flat.get(k) is not None}}


def session_group(sweep: str, group: str) -> str:
    """The HParams group of a trial: the repeats of one setting of one sweep, never two sweeps'.

    Its name is the dashboard's Trial ID column, which shows about 16 characters: the setting's
    short run name leads (`h128,drop.2,lr.003 (quick)`), so the rows read apart.
    """
    return f"{run_name(group)} ({sweep})" if group else sweep


def experiment_pb(cfg: ExperimentConfig) -> summary_pb2.Summary:
    """The sweep's experiment config: `sweep`, the swept params (or the fixed core values) and the metrics,
    the sweep's own first."""
    params = list(cfg.sweep.parameters)
    if params:
        hparams = [summary_v2.HParam(p.path, domain(p)) for p in params]
    else:
        fixed = session_hparams(cfg, {})
        del fixed[SWEEP]
        hparams = [summary_v2.HParam(k, summary_v2.Discrete([v])) for k, v in fixed.items()]
    if DATASET not in [h.name for h in hparams]:  # a column once two sweeps' datasets differ (hparams_union)
        hparams.append(summary_v2.HParam(DATASET, summary_v2.Discrete([cfg.data.dataset])))
    hparams.insert(0, summary_v2.HParam(SWEEP, summary_v2.Discrete([cfg.name])))
    metrics = [summary_v2.Metric(m.tag, display_name=m.display) for m in dashboard_order(cfg.sweep.metric.name, pruned=cfg.sweep.pruner.kind != "none")]
    return summary_v2.hparams_config_pb(hparams, metrics, time_created_secs=0)
