"""K member models of one MLP / softmax shape as stacked weights, trained by one step function.

Every weight of the members is one variable with a leading member axis
(kernels K x in x out, biases K x 1 x out), so a step is a few batched
matmuls (`einsum`) instead of K Python round trips. Everything the step needs
is read from the members' own compiled Keras models (their layers, optimizer,
schedule, regulariser, dropout rate), never from their configs a second time,
and the update rules are Keras 3's own formulas with each hyperparameter a
(K, 1, 1) tensor. `load` stacks the members' variables (weights, optimizer
slots, moving averages, step) and `store` writes each member's slice back,
so the members' models stay the single source of truth between steps.
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
        self.kind = type(first.optimizer).__name__
        self.nesterov = bool(getattr(first.optimizer, "nesterov", False))
        self.use_ema = bool(first.optimizer.use_ema)
        self.scaling = next(layer.mode for layer in first.layers if isinstance(layer, InputScaling))
        layered = probed_layers(first)
        self.activations = [keras.activations.get(act.get_config()["activation"]) if act is not None else None
                            for _, _, act in layered]
        self.loss_fn = first.loss
        self._member_vars = [[v for _, layer, _ in probed_layers(m) for v in (layer.kernel, layer.bias)]
                             for m in models]
        shapes = [(1, *v.shape) if len(v.shape) == 1 else tuple(v.shape) for v in self._member_vars[0]]
        self._shapes = shapes
        self.vars = [tf.Variable(self._stack(j, lambda m, v: v), name=f"w{j}") for j in range(len(shapes))]
        self.slots = {name: [tf.Variable(self._stack(j, lambda m, v, n=name: getattr(m.optimizer, n)[
            m.optimizer._get_variable_index(v)])) for j in range(len(shapes))] for name in _slots(first.optimizer)}
        self.ema = [tf.Variable(self._stack(j, lambda m, v: m.optimizer._model_variables_moving_average[
            m.optimizer._get_variable_index(v)])) for j in range(len(shapes))] if self.use_ema else []
        steps = {int(m.optimizer.iterations.numpy()) for m in models}
        if len(steps) != 1:
            raise ValueError(f"members of one fused group must be at the same step, got {sorted(steps)}")
        self.iterations = tf.Variable(steps.pop(), dtype=tf.int64)
        self._read_hypers(models, seeds)
        self.x = tf.constant(x_train.reshape(len(x_train), -1))
        self.y = tf.constant(y_train.astype(np.int32))
        # Members with one seed see one data order: their first layer is one matmul over one batch.
        self.orders = list(dict.fromkeys(self.seeds))
        self._runs = [(self.orders.index(s), self.seeds.index(s), self.seeds.index(s)
                       + self.seeds.count(s)) for s in self.orders]
        if self.seeds != sorted(self.seeds):
            raise ValueError("members must come in the order of their seeds (fused.py sorts them)")
        # One compiled program (XLA; measured here: a step of 8 x 784-128-10 in 7 ms, against 14 ms as a graph)
        # for every call: CHUNK rows of batches, `valid` examples in each (a partial batch is padded), `n` run.
        self.run = tf.function(self._run, jit_compile=True, input_signature=[
            tf.TensorSpec([CHUNK, len(self.orders), batch_size], tf.int32), tf.TensorSpec([CHUNK], tf.int32),
            tf.TensorSpec([], tf.int32)])

    def _stack(self, j: int, pick) -> np.ndarray:
        shape = self._shapes[j]
        return np.stack([np.asarray(pick(m, vs[j]).numpy()).reshape(shape)
                         for m, vs in zip(self.models, self._member_vars)])

    def _read_hypers(self, models, seeds) -> None:
        opts = [m.optimizer for m in models]
        lrs = [o._learning_rate for o in opts]
        decay = [isinstance(s, keras.optimizers.schedules.ExponentialDecay) for s in lrs]
        self.lr0 = _hyper([s.initial_learning_rate if d else float(s.numpy()) for s, d in zip(lrs, decay)])
        self.decay_rate = _hyper([s.decay_rate if d else 1.0 for s, d in zip(lrs, decay)])
        self.decay_steps = _hyper([s.decay_steps if d else 1.0 for s, d in zip(lrs, decay)])
        self.staircase = tf.constant(np.array([bool(d and s.staircase) for s, d in zip(lrs, decay)]).reshape(-1, 1, 1))
        for name in ("momentum", "beta_1", "beta_2", "rho", "epsilon"):
            if hasattr(opts[0], name):
                setattr(self, name, _hyper([getattr(o, name) for o in opts]))
        self.ema_momentum = _hyper([o.ema_momentum for o in opts])
        dense = [[layer for _, layer, _ in probed_layers(m)] for m in models]
        self.l2 = [tf.constant(np.array([float(layer.kernel_regularizer.l2) if layer.kernel_regularizer else 0.0
                                         for layer in (d[j] for d in dense)], np.float32))
                   for j in range(len(dense[0]))]
        rates = [[layer.rate for layer in m.layers if isinstance(layer, keras.layers.Dropout)] for m in models]
        self.dropout = [r[0] if r else 0.0 for r in rates]  # one rate per model (models.py)
        self.seeds = [int(s) for s in seeds]

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

    # --- the computation -------------------------------------------------------------------

    def _scale(self, x):
        x = tf.cast(x, tf.float32) / 255.0
        return tf.round(x) if self.scaling == "binary" else x

    def logits(self, x, weights, runs, training: bool = False, step=None):
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
                if training and any(self.dropout):
                    h = self._dropout(h, step, j)
        return h

    def _dropout(self, h, step, layer: int):
        """Inverted dropout with each member's own rate and masks drawn from its own seed and step alone."""
        out = []
        for k, rate in enumerate(self.dropout):
            if not rate:
                out.append(h[k])
                continue
            seed = tf.stack([tf.constant(self.seeds[k], tf.int64), step * 16 + layer])
            keep = tf.random.stateless_uniform(tf.shape(h[k]), seed=seed) >= rate
            out.append(tf.where(keep, h[k] / (1.0 - rate), 0.0))
        return tf.stack(out)

    def member_losses(self, y, logits, weights, mask=None):
        """Each member's loss (K,): the batch mean of its loss (over the `mask`ed examples) plus its L2
        penalties, as Keras adds them."""
        k, b = tf.shape(logits)[0], tf.shape(logits)[1]
        per_example = tf.reshape(self._per_example(tf.reshape(y, [-1]), tf.reshape(logits, [k * b, 10])), [k, b])
        if mask is None:
            loss = tf.reduce_sum(per_example, axis=1) / tf.cast(b, tf.float32)
        else:
            loss = tf.reduce_sum(per_example * mask, axis=1) / tf.reduce_sum(mask)
        for j, l2 in enumerate(self.l2):
            loss = loss + l2 * tf.reduce_sum(tf.square(weights[2 * j]), axis=[1, 2])
        return loss

    def _per_example(self, y, logits):
        if isinstance(self.loss_fn, keras.losses.Loss):
            return keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
        return self.loss_fn(y, logits)

    def _lr(self):
        p = tf.cast(self.iterations, tf.float32) / self.decay_steps
        p = tf.where(self.staircase, tf.floor(p), p)
        return self.lr0 * tf.pow(self.decay_rate, p)

    def _step(self, idx, valid):
        """One optimizer step of every member on its own batch (`idx`: O x B image indices, one row per
        data order, the first `valid` of them real)."""
        x = tf.gather(self.x, idx)
        y = tf.concat([tf.repeat(tf.gather(self.y, idx[o])[None], b - a, 0) for o, a, b in self._runs], 0)
        mask = tf.sequence_mask(valid, tf.shape(idx)[1], tf.float32)
        with tf.GradientTape() as tape:
            logits = self.logits(x, self.vars, self._runs, training=True, step=self.iterations)
            losses = self.member_losses(y, logits, self.vars, mask)
            total = tf.reduce_sum(losses)  # each member's gradient is its own loss's: the others' are constant in it
        grads = tape.gradient(total, self.vars)
        lr = self._lr()
        for j, (g, var) in enumerate(zip(grads, self.vars)):
            self._update(j, g, var, lr)
        if self.use_ema:
            momentum = tf.cast(tf.not_equal(self.iterations, 0), tf.float32) * self.ema_momentum
            for var, avg in zip(self.vars, self.ema):
                avg.assign(momentum * avg + (1 - momentum) * var)
        self.iterations.assign_add(1)
        hits = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), y), tf.float32)
        return losses, tf.reduce_sum(hits * mask, 1)

    def _update(self, j: int, g, var, lr) -> None:
        """Keras 3's update_step of the members' optimizer, per member."""
        if self.kind == "SGD":
            if "momentums" not in self.slots:
                var.assign_sub(g * lr)
                return
            m = self.slots["momentums"][j]
            m.assign(m * self.momentum - g * lr)
            var.assign_add(m * self.momentum - g * lr if self.nesterov else m)
        elif self.kind == "Adam":
            m, v = self.slots["_momentums"][j], self.slots["_velocities"][j]
            t = tf.cast(self.iterations + 1, tf.float32)
            alpha = lr * tf.sqrt(1 - tf.pow(self.beta_2, t)) / (1 - tf.pow(self.beta_1, t))
            m.assign_add((g - m) * (1 - self.beta_1))
            v.assign_add((tf.square(g) - v) * (1 - self.beta_2))
            var.assign_sub((m * alpha) / (tf.sqrt(v) + self.epsilon))
        elif self.kind == "RMSprop":
            v = self.slots["_velocities"][j]
            v.assign(self.rho * v + (1 - self.rho) * tf.square(g))
            var.assign_sub((lr * g) / tf.sqrt(v + self.epsilon))
        else:  # Adagrad
            acc = self.slots["_accumulators"][j]
            acc.assign_add(tf.square(g))
            var.assign_sub((lr * g) / tf.sqrt(acc + self.epsilon))

    def _run(self, idx, valid, n):
        """The first `n` of the CHUNK steps `idx` holds, in one call; each step's (K,) losses and correct
        counts (rows from `n` on: zeros)."""
        losses = correct = tf.zeros([CHUNK, len(self.models)])
        i = tf.constant(0)
        while i < n:  # (not `tf.range(n)`: XLA would compile once per value of n)
            step_losses, step_correct = self._step(idx[i], valid[i])
            losses = tf.tensor_scatter_nd_update(losses, [[i]], step_losses[None])
            correct = tf.tensor_scatter_nd_update(correct, [[i]], step_correct[None])
            i += 1
        return losses, correct

    def evaluate(self, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
        """Each member's (loss, accuracy) on `x` (the moving averages when the members use EMA)."""
        weights = self.ema if self.use_ema else self.vars
        x_flat = x.reshape(len(x), -1)
        total_loss = np.zeros(len(self.models))
        correct = np.zeros(len(self.models))
        for start in range(0, len(x), batch_size):
            xb, yb = x_flat[start:start + batch_size], y[start:start + batch_size].astype(np.int32)
            loss, hits = self._eval(tf.constant(xb), tf.constant(yb), weights)
            total_loss += loss.numpy() * len(xb)
            correct += hits.numpy()
        return total_loss / len(x), correct / len(x)

    @tf.function(reduce_retracing=True)
    def _eval(self, x, y, weights):
        logits = self.logits(x[None], weights, [(0, 0, len(self.models))])
        k = tf.shape(logits)[0]
        yy = tf.broadcast_to(y[None], [k, tf.shape(y)[0]])
        hits = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), yy), tf.float32), 1)
        return self.member_losses(yy, logits, weights), hits
