"""Where the fast engine's training time goes: one block's mini-batch step against its matrix products alone.

    .venv/bin/python benchmarks/engine_profile.py [--runs 32] [--epochs 200] [--variant baseline] [--hidden 128,128]

One block of --runs runs of the default study's network (or of --hidden's widths), on the default data, trained for
--epochs epochs in the engine's compiled graph after a first call that compiles it (the compiled-graph cache is off,
so nothing of another build is reused). Beside it, in the same process, XLA-compiled loops of the pieces of that
step, at the same shapes:

- products: every matrix product of a step (each Dense layer's forward product, its weight gradient, and the gradient
  of its input except for the first layer), the floating-point work the plan line counts;
- Adam: one Adam update of every weight of the block (read gradient, weights and both moments, write the three).

Each is measured alone (one process: XLA spreads a graph's operations over every core), alone on one core (the process
pinned to it), and twice at once (two processes started together, as a build trains one block per core); the figures
are the best of three timings of each process. The last lines say what share of a step the products take on one core
and two at once, and the floor they set: a step that was its products alone.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time


def _best(call, repeats: int = 3) -> float:
    call()  # compiles
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - began)
    return best


def _measure(n_runs: int, epochs: int, variant: str, hidden: list[int], pinned: bool, queue) -> None:
    """Time one block's epoch and its pieces in this process (pinned: on one core); put seconds per step on the queue."""
    os.environ["REPORTGEN_XLA_CACHE"] = ""  # compile here: another build's graphs are not what is measured
    if pinned:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    from reportgen._tf import load
    from reportgen.config import validate
    from reportgen.data import make_datasets
    from reportgen.models import initial_dense_weights
    from reportgen.plan import plan_runs
    from reportgen.training import engine
    from reportgen.training import train as T

    tf, _ = load()
    config = validate({"model": {"hidden_units": hidden}, "training": {"seeds": list(range(n_runs)), "engine": "fast"}})
    datasets = make_datasets(config.data, config.training.seeds)
    runs = [r for r in plan_runs(config) if r.variant.name == variant][:n_runs]
    shape = datasets[runs[0].data_key]
    init = {
        key: initial_dense_weights(config.model.model_copy(update={"hidden_units": list(key[1])}), key[0], shape)
        for key in sorted({T.init_key(r, config) for r in runs})
    }
    network = T.group_key(runs[0], shape, config)[0]
    spec, state, tensors, hyper, _ = T._block_inputs(T._Block(network, runs, len(runs)), datasets, config, init)
    advance, settings = engine.build_trainer(spec), engine.hyper_tensors(hyper)
    state, _ = advance(state, tensors, settings, tf.constant(0), tf.constant(1))
    epoch = _best(lambda: advance(state, tensors, settings, tf.constant(1), tf.constant(1 + epochs))[1].numpy()) / epochs

    widths = [shape.x_train.shape[1], *network.hidden, network.outputs]
    steps, batch, loops = spec.steps, spec.batch_size, epochs * spec.steps
    x = [tf.random.normal((n_runs, batch, a)) for a in widths[:-1]]
    d = [tf.random.normal((n_runs, batch, b)) for b in widths[1:]]
    w = [tf.random.normal((n_runs, a, b)) * 0.05 for a, b in zip(widths[:-1], widths[1:])]

    @tf.function(jit_compile=True, autograph=False)
    def products(x, d, w):
        def made(c):  # every product of a step; c (0, from the last loop's) keeps XLA from computing them only once
            out = []
            for layer, (xi, di, wi) in enumerate(zip(x, d, w)):
                xi, di = xi + c, di + c
                out += [tf.matmul(xi, wi), tf.matmul(xi, di, transpose_a=True)]  # forward, weight gradient
                out += [tf.matmul(di, wi, transpose_b=True)] if layer else []  # input gradient (not the first's)
            return out

        def body(i, last):  # each loop writes its products, as a step writes them for what uses them
            return i + 1, made(last[0][0, 0, 0] * 0.0)

        return tf.while_loop(lambda i, _: i < loops, body, (0, made(0.0)))[1]

    @tf.function(jit_compile=True, autograph=False)
    def adam(w, g):
        def body(i, w, m, v):
            m = [a + (b - a) * 0.1 for a, b in zip(m, g)]
            v = [a + (b * b - a) * 0.001 for a, b in zip(v, g)]
            return i + 1, [a - b * 0.01 / (tf.sqrt(c) + 1e-7) for a, b, c in zip(w, m, v)], m, v

        zeros = [tf.zeros_like(a) for a in w]
        return tf.while_loop(lambda i, *_: i < loops, body, (0, w, zeros, list(zeros)))[1]

    queue.put(
        {
            "step": epoch / steps,
            "products": _best(lambda: [a.numpy() for a in products(x, d, w)]) / loops,
            "adam": _best(lambda: [a.numpy() for a in adam(w, [a * 0.01 for a in w])]) / loops,
            "steps": steps,
            "network": "-".join(map(str, widths)),
        }
    )


def _together(count: int, args, pinned: bool = False) -> list[dict]:
    """Measure in `count` processes started at once."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_measure, args=(args.runs, args.epochs, args.variant, args.hidden, pinned, queue))
        for _ in range(count)
    ]
    for p in procs:
        p.start()
    out = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=32, help="runs in the block (the engine's block size: 32)")
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--variant", default="baseline", help="a variant of the default study")
    p.add_argument("--hidden", default="128,128", help="hidden widths (the default study's: 128,128)")
    args = p.parse_args()
    args.hidden = [int(w) for w in args.hidden.split(",")]
    alone, one = _together(1, args)[0], _together(1, args, pinned=True)[0]
    pair = _together(2, args)
    both = {k: sum(o[k] for o in pair) / len(pair) for k in ("step", "products", "adam")}
    print(f"one block of {args.runs} {args.variant} runs, network {alone['network']}, {alone['steps']} steps per epoch")
    print(f"{'per mini-batch step':<24}{'alone':>10}{'on one core':>14}{'two at once':>14}")
    for key, label in (("step", "whole step"), ("products", "matrix products"), ("adam", "Adam update")):
        print(f"{label:<24}{alone[key] * 1e6:>8.0f} µs{one[key] * 1e6:>12.0f} µs{both[key] * 1e6:>12.0f} µs")
    for name, m in (("on one core", one), ("two at once", both)):
        rest = (m["step"] - m["products"]) * 1e6
        print(f"{name}: products {100 * m['products'] / m['step']:.0f}% of a step, the rest {rest:.0f} µs")
    print(f"two blocks at once train {2 * alone['step'] / both['step']:.2f}x as fast as one alone")
    print(f"floor: a step of products alone would take {both['products'] / both['step']:.2f} of a step two at once")


if __name__ == "__main__":
    main()
