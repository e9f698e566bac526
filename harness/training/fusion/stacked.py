"""K member models of one MLP / softmax shape as stacked weights, trained by one step function.

Every weight of the members is one variable with a leading member axis
(kernels K x in x out, biases K x 1 x out), so a step is a few batched
matmuls (`einsum`) instead of K Python round trips. Everything the step needs
is read from the members' own compiled Keras models (their layers, optimizer,
schedule, regulariser, dropout rate), never from their configs a second time,
and the update rules are Keras 3's own formulas with each hyperparameter a
(K, 1, 1) tensor. `Stacked` stacks the members' variables (weights, optimizer
slots, moving averages, step) and `store` writes each member's slice back,
so the members' models stay the single source of truth between steps. The
compiled step itself is a `Program`, shared by every group of its kind.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from harness.training.models import InputScaling, probed_layers

# The optimizer slots, by the attribute lists Keras 3 keeps them in (aligned with the trainable variables).
SLOTS = {"SGD": ("momentums",), "Adam": ("_momentums", "_velocities"), "RMSprop": ("_velocities",),
         "Adagrad": ("_accumulators",)}


def _slots(opt) -> tuple[str, ...]:
    names = SLOTS[type(opt).__name__]
    return () if type(opt).__name__ == "SGD" and not opt.momentum else names


def _hyper(values) -> tf.Tensor:
    return tf.constant(np.asarray(values, dtype=np.float32).reshape(-1, 1, 1))


CHUNK = 128  # steps per call at most: every call has one shape, so XLA compiles the group's step once


class Stacked:
    """The members' trainable state stacked on a member axis, and the step that trains it."""

    def __init__(self, models: list[keras.Model], x_train: np.ndarray, y_train: np.ndarray,
                 seeds: list[int], batch_size: int):
        self.models = models
        for m in models:
            if not m.optimizer.built:
                m.optimizer.build(m.trainable_variables)
        first = models[0]
        self._member_vars = [[v for _, layer, _ in probed_layers(m) for v in (layer.kernel, layer.bias)]
                             for m in models]
        shapes = [(1, *v.shape) if len(v.shape) == 1 else tuple(v.shape) for v in self._member_vars[0]]
        self._shapes = shapes
        self.use_ema = bool(first.optimizer.use_ema)
        self.vars = [tf.Variable(self._stack(j, lambda m, v: v), name=f"w{j}") for j in range(len(shapes))]
        self.slots = {name: [tf.Variable(self._stack(j, lambda m, v, n=name: getattr(m.optimizer, n)[
            m.optimizer._get_variable_index(v)])) for j in range(len(shapes))] for name in _slots(first.optimizer)}
        self.ema = [tf.Variable(self._stack(j, lambda m, v: m.optimizer._model_variables_moving_average[
            m.optimizer._get_variable_index(v)])) for j in range(len(shapes))] if self.use_ema else []
        steps = {int(m.optimizer.iterations.numpy()) for m in models}
        if len(steps) != 1:
            raise ValueError(f"members of one fused group must be at the same step, got {sorted(steps)}")
        self.iterations = tf.Variable(steps.pop(), dtype=tf.int64)
        self.seeds = [int(s) for s in seeds]
        if self.seeds != sorted(self.seeds):
            raise ValueError("members must come in the order of their seeds (fusion/loop.py sorts them)")
        rates = _dropout_rates(models)
        self.hyper = _hypers(models, self.seeds, rates)
        self.x = tf.constant(x_train.reshape(len(x_train), -1))
        self.y = tf.constant(y_train.astype(np.int32))
        # Members with one seed see one data order: their first layer is one matmul over one batch.
        self.orders = list(dict.fromkeys(self.seeds))
        runs = tuple((self.orders.index(s), self.seeds.index(s), self.seeds.index(s) + self.seeds.count(s))
                     for s in self.orders)
        self.program = Program.of(first, runs, tuple(r > 0 for r in rates), batch_size)

    def _stack(self, j: int, pick) -> np.ndarray:
        shape = self._shapes[j]
        return np.stack([np.asarray(pick(m, vs[j]).numpy()).reshape(shape)
                         for m, vs in zip(self.models, self._member_vars)])

    def state(self) -> dict:
        """Everything a step reads or changes, as the program's argument (the program holds none of it)."""
        return {"vars": self.vars, "slots": self.slots, "ema": self.ema, "iterations": self.iterations,
                "x": self.x, "y": self.y, "hyper": self.hyper}

    def run(self, idx: np.ndarray, valid: np.ndarray, n: int):
        """The first `n` of the CHUNK steps `idx` (CHUNK x orders x batch) holds: each step's (K,) losses
        and correct counts (rows from `n` on: zeros)."""
        return self.program.run(self.state(), tf.constant(idx, tf.int32), tf.constant(valid, tf.int32),
                                tf.constant(n, tf.int32))

    # --- moving state between the stack and the members ------------------------------------

    def store(self, full: bool = True) -> None:
        """Write each member's slice into its own model: the step, and with `full` every variable."""
        step = int(self.iterations.numpy())
        for m in self.models:
            m.optimizer.iterations.assign(step)
        if not full:
            return
        pairs = [(self.vars, lambda m, v: v)]
        pairs += [(fused, lambda m, v, n=name: getattr(m.optimizer, n)[m.optimizer._get_variable_index(v)])
                  for name, fused in self.slots.items()]
        if self.use_ema:
            pairs.append((self.ema, lambda m, v: m.optimizer._model_variables_moving_average[
                m.optimizer._get_variable_index(v)]))
        for fused, pick in pairs:
            for j, var in enumerate(fused):
                values = var.numpy()
                for k, (m, vs) in enumerate(zip(self.models, self._member_vars)):
                    target = pick(m, vs[j])
                    target.assign(values[k].reshape(target.shape))

    def evaluate(self, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
        """Each member's (loss, accuracy) on `x` (the moving averages when the members use EMA)."""
        weights = self.ema if self.use_ema else self.vars
        x_flat = x.reshape(len(x), -1)
        total_loss = np.zeros(len(self.models))
        correct = np.zeros(len(self.models))
        for start in range(0, len(x), batch_size):
            xb, yb = x_flat[start:start + batch_size], y[start:start + batch_size].astype(np.int32)
            loss, hits = self.program.eval(self.hyper, tf.constant(xb), tf.constant(yb), weights)
            total_loss += loss.numpy() * len(xb)
            correct += hits.numpy()
        return total_loss / len(x), correct / len(x)


def _dropout_rates(models: list[keras.Model]) -> list[float]:
    """Each member's dropout rate (models.py gives a model one rate), 0.0 without dropout."""
    rates = [[layer.rate for layer in m.layers if isinstance(layer, keras.layers.Dropout)] for m in models]
    return [r[0] if r else 0.0 for r in rates]


def _hypers(models: list[keras.Model], seeds: list[int], rates: list[float]) -> dict:
    """The members' own constants, each a tensor with the member axis first: learning rate and schedule,
    optimizer constants, L2 per layer, dropout rate, and the seed of their dropout masks."""
    opts = [m.optimizer for m in models]
    lrs = [o._learning_rate for o in opts]
    decay = [isinstance(s, keras.optimizers.schedules.ExponentialDecay) for s in lrs]
    out = {
        "lr0": _hyper([s.initial_learning_rate if d else float(s.numpy()) for s, d in zip(lrs, decay)]),
        "decay_rate": _hyper([s.decay_rate if d else 1.0 for s, d in zip(lrs, decay)]),
        "decay_steps": _hyper([s.decay_steps if d else 1.0 for s, d in zip(lrs, decay)]),
        "staircase": tf.constant(np.array([bool(d and s.staircase) for s, d in zip(lrs, decay)]).reshape(-1, 1, 1)),
        "ema_momentum": _hyper([o.ema_momentum for o in opts]),
        "seeds": tf.constant(seeds, tf.int64),
    }
    for name in ("momentum", "beta_1", "beta_2", "rho", "epsilon"):
        if hasattr(opts[0], name):
            out[name] = _hyper([getattr(o, name) for o in opts])
    dense = [[layer for _, layer, _ in probed_layers(m)] for m in models]
    out["l2"] = [tf.constant(np.array([float(layer.kernel_regularizer.l2) if layer.kernel_regularizer else 0.0
                                       for layer in (d[j] for d in dense)], np.float32)) for j in range(len(dense[0]))]
    out["rates"] = tf.constant(rates, tf.float32)
    return out


_PROGRAMS: dict[tuple, "Program"] = {}  # by signature: this process compiles each kind of group once


class Program:
    """The step and evaluation of one kind of group, compiled once per process and shared by every
    group of that kind: everything that varies between such groups (weights, optimizer slots, data,
    hyperparameters, seeds) comes in as an argument, so a race's later rounds and a sweep's further
    groups of one shape reuse the compiled step instead of compiling it again (2-4 s a group here).

    What it holds is structure only: optimizer kind, Nesterov, EMA, input scaling, activations, loss,
    the members' data orders (`runs`), which members drop out, the batch size."""

    @classmethod
    def of(cls, model: keras.Model, runs: tuple, dropout_on: tuple[bool, ...], batch_size: int) -> "Program":
        opt = model.optimizer
        scaling = next(layer.mode for layer in model.layers if isinstance(layer, InputScaling))
        activations = tuple(act.get_config()["activation"] if act is not None else None
                            for _, _, act in probed_layers(model))
        loss = model.loss
        loss_key = type(loss).__name__ if isinstance(loss, keras.losses.Loss) else getattr(loss, "__qualname__", repr(loss))
        key = (type(opt).__name__, bool(getattr(opt, "nesterov", False)), _slots(opt), bool(opt.use_ema), scaling,
               activations, loss_key, runs, dropout_on, batch_size)
        if key not in _PROGRAMS:
            _PROGRAMS[key] = cls(key, loss)
        return _PROGRAMS[key]

    def __init__(self, key: tuple, loss):
        self.kind, self.nesterov, _, self.use_ema, self.scaling, names, _, self.runs, self.dropout_on, _ = key
        self.activations = [keras.activations.get(a) if a is not None else None for a in names]
        self.loss_fn = loss
        self.members = self.runs[-1][2]
        self.run = tf.function(self._run, jit_compile=True)
        self.eval = tf.function(self._eval, reduce_retracing=True)

    def _scale(self, x):
        x = tf.cast(x, tf.float32) / 255.0
        return tf.round(x) if self.scaling == "binary" else x

    def logits(self, hyper, x, weights, runs, training: bool = False, step=None):
        """(K, B, 10) logits of batches `x` (O x B x 784): members runs[i] = (o, first, end) see x[o]."""
        h = self._scale(x)
        n_layers = len(weights) // 2
        for j in range(n_layers):
            kernel, bias = weights[2 * j], weights[2 * j + 1]
            if j == 0:
                h = tf.concat([tf.einsum("bi,kio->kbo", h[o], kernel[a:b]) for o, a, b in runs], 0) + bias
            else:
                h = tf.einsum("kbi,kio->kbo", h, kernel) + bias
            if j < n_layers - 1:
                h = self.activations[j](h)
                if training and any(self.dropout_on):
                    h = self._dropout(hyper, h, step, j)
        return h

    def _dropout(self, hyper, h, step, layer: int):
        """Inverted dropout with each member's own rate and masks drawn from its own seed and step alone."""
        out = []
        for k, on in enumerate(self.dropout_on):
            if not on:
                out.append(h[k])
                continue
            rate = hyper["rates"][k]
            seed = tf.stack([hyper["seeds"][k], step * 16 + layer])
            keep = tf.random.stateless_uniform(tf.shape(h[k]), seed=seed) >= rate
            out.append(tf.where(keep, h[k] / (1.0 - rate), 0.0))
        return tf.stack(out)

    def member_losses(self, hyper, y, logits, weights, mask=None):
        """Each member's loss (K,): the batch mean of its loss (over the `mask`ed examples) plus its L2
        penalties, as Keras adds them."""
        k, b = tf.shape(logits)[0], tf.shape(logits)[1]
        per_example = tf.reshape(self._per_example(tf.reshape(y, [-1]), tf.reshape(logits, [k * b, 10])), [k, b])
        if mask is None:
            loss = tf.reduce_sum(per_example, axis=1) / tf.cast(b, tf.float32)
        else:
            loss = tf.reduce_sum(per_example * mask, axis=1) / tf.reduce_sum(mask)
        for j, l2 in enumerate(hyper["l2"]):
            loss = loss + l2 * tf.reduce_sum(tf.square(weights[2 * j]), axis=[1, 2])
        return loss

    def _per_example(self, y, logits):
        if isinstance(self.loss_fn, keras.losses.Loss):
            return keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
        return self.loss_fn(y, logits)

    def _lr(self, s):
        h = s["hyper"]
        p = tf.cast(s["iterations"], tf.float32) / h["decay_steps"]
        p = tf.where(h["staircase"], tf.floor(p), p)
        return h["lr0"] * tf.pow(h["decay_rate"], p)

    def _step(self, s, idx, valid):
        """One optimizer step of every member on its own batch (`idx`: O x B image indices, one row per
        data order, the first `valid` of them real)."""
        x = tf.gather(s["x"], idx)
        y = tf.concat([tf.repeat(tf.gather(s["y"], idx[o])[None], b - a, 0) for o, a, b in self.runs], 0)
        mask = tf.sequence_mask(valid, tf.shape(idx)[1], tf.float32)
        with tf.GradientTape() as tape:
            logits = self.logits(s["hyper"], x, s["vars"], self.runs, training=True, step=s["iterations"])
            losses = self.member_losses(s["hyper"], y, logits, s["vars"], mask)
            total = tf.reduce_sum(losses)  # each member's gradient is its own loss's: the others' are constant in it
        grads = tape.gradient(total, s["vars"])
        lr = self._lr(s)
        for j, (g, var) in enumerate(zip(grads, s["vars"])):
            self._update(s, j, g, var, lr)
        if self.use_ema:
            momentum = tf.cast(tf.not_equal(s["iterations"], 0), tf.float32) * s["hyper"]["ema_momentum"]
            for var, avg in zip(s["vars"], s["ema"]):
                avg.assign(momentum * avg + (1 - momentum) * var)
        s["iterations"].assign_add(1)
        hits = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), y), tf.float32)
        return losses, tf.reduce_sum(hits * mask, 1)

    def _update(self, s, j: int, g, var, lr) -> None:
        """Keras 3's update_step of the members' optimizer, per member."""
        h, slots = s["hyper"], s["slots"]
        if self.kind == "SGD":
            if "momentums" not in slots:
                var.assign_sub(g * lr)
                return
            m = slots["momentums"][j]
            m.assign(m * h["momentum"] - g * lr)
            var.assign_add(m * h["momentum"] - g * lr if self.nesterov else m)
        elif self.kind == "Adam":
            m, v = slots["_momentums"][j], slots["_velocities"][j]
            t = tf.cast(s["iterations"] + 1, tf.float32)
            alpha = lr * tf.sqrt(1 - tf.pow(h["beta_2"], t)) / (1 - tf.pow(h["beta_1"], t))
            m.assign_add((g - m) * (1 - h["beta_1"]))
            v.assign_add((tf.square(g) - v) * (1 - h["beta_2"]))
            var.assign_sub((m * alpha) / (tf.sqrt(v) + h["epsilon"]))
        elif self.kind == "RMSprop":
            v = slots["_velocities"][j]
            v.assign(h["rho"] * v + (1 - h["rho"]) * tf.square(g))
            var.assign_sub((lr * g) / tf.sqrt(v + h["epsilon"]))
        else:  # Adagrad
            acc = slots["_accumulators"][j]
            acc.assign_add(tf.square(g))
            var.assign_sub((lr * g) / tf.sqrt(acc + h["epsilon"]))

    def _run(self, s, idx, valid, n):
        """The first `n` of the CHUNK steps `idx` holds, in one call (one compiled program: XLA; measured
        here, a step of 8 x 784-128-10 in 7 ms against 14 ms as a graph)."""
        losses = correct = tf.zeros([CHUNK, self.members])
        i = tf.constant(0)
        while i < n:  # (not `tf.range(n)`: XLA would compile once per value of n)
            step_losses, step_correct = self._step(s, idx[i], valid[i])
            losses = tf.tensor_scatter_nd_update(losses, [[i]], step_losses[None])
            correct = tf.tensor_scatter_nd_update(correct, [[i]], step_correct[None])
            i += 1
        return losses, correct

    def _eval(self, hyper, x, y, weights):
        logits = self.logits(hyper, x[None], weights, [(0, 0, self.members)])
        k = tf.shape(logits)[0]
        yy = tf.broadcast_to(y[None], [k, tf.shape(y)[0]])
        hits = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), yy), tf.float32), 1)
        return self.member_losses(hyper, yy, logits, weights), hits
