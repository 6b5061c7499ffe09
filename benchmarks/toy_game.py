"""The 2-D game of the "Watch it train" tab: how fast it reaches every mode, how often it collapses, and what a frame costs;
with ``--preset head-start``, whether the minimax loss stalls G after D's head start while the non-saturating one recovers.

    flock /tmp/cpu_bench.lock python benchmarks/toy_game.py
    flock /tmp/cpu_bench.lock python benchmarks/toy_game.py --preset head-start --seeds 8 --steps 2000

For each seed, a game with the app's default settings (8 Gaussians on a ring, noise 2-D, Adam lr 1e-3 for both,
betas (0.5, 0.999), 1 D step per G step, batch 256, MLPs 2 x 128) trains on one torch thread; every --check-every
steps the modes are counted as the page counts them (``Coverage.complete``: every mode holds at least a quarter of
its fair share of G's 1024 points within 3 sigma, and most points lie on a mode). Reported: steps and seconds to
cover all modes (median over the seeds that did, training time only), the seeds that did not within --cap-steps
(collapsed: most points on too few modes; or not found: most points on no mode), and the seeds that passed through a collapse on the way (the page said "Mode collapse" at
some check). Then the cost of what the page shows: a frame (D over the plane, G's points, coverage, drawing, JPEG
data URL) and one slow step (both updates, three pictures), median of --repeats. Writes
benchmarks/results/toy_game.json.

With ``--preset head-start``: for each seed and loss, D first trains alone for the preset's 1,000 steps, then the game
trains --steps steps with the preset (G by plain gradient descent, lr 0.01) and, for comparison, the same head start with
G on Adam (lr 1e-3, the usual game's). Reported at steps 0, 250, 500, 1000 and --steps: the mean distance of G's 1024
shown points to their nearest mode centre (the ring has radius 2, sigma 0.05; at the start G's points sit near the
ring's centre, about 1.8 away), the modes covered, D's mean verdict D(G(z)) and both losses' mean pull
||dLoss_G/dx|| on those points. Writes benchmarks/results/toy_game_head_start.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from common import header, write_result

from gan_core.core.images import data_url, jpeg_data_url
from gan_core.live import toy


def race(config: toy.ToyConfig, cap_steps: int, check_every: int) -> dict:
    """Train one game until its modes are all covered or ``cap_steps``: steps, training seconds, and what happened."""
    game = toy.ToyGame(config)
    seconds = 0.0
    passed_collapse = False
    while game.step < cap_steps:
        start = time.perf_counter()
        game.train(check_every)
        seconds += time.perf_counter() - start
        coverage = game.coverage()
        if coverage.complete:
            return {
                "seed": config.seed,
                "outcome": "all modes",
                "steps": game.step,
                "seconds": round(seconds, 3),
                "passed_collapse": passed_collapse,
            }
        passed_collapse |= coverage.sentence().startswith("Mode collapse")
    coverage = game.coverage()
    return {
        "seed": config.seed,
        # At the cap: collapsed (most points on too few modes) or never found the data.
        "outcome": "collapsed" if coverage.on_modes >= 0.5 else "not found",
        "steps": game.step,
        "seconds": round(seconds, 3),
        "passed_collapse": passed_collapse,
        "modes_at_cap": coverage.covered,
        "on_modes_at_cap": round(coverage.on_modes, 3),
    }


def distance_to_data(game: toy.ToyGame) -> float:
    """The mean distance of G's shown points to their nearest mode centre, in the plane's units."""
    return torch.cdist(game.shown_fake(), game.mixture.centres_tensor()).min(dim=1).values.mean().item()


def head_start_game(preset: str, optimizer: str, loss: str, seed: int, mixture: str, steps: int, checks: list[int]) -> dict:
    """One game of the head-start comparison: D's head start, then ``steps`` steps; the state at each of ``checks``."""
    if optimizer == "sgd":
        game = toy.ToyGame(toy.ToyConfig(mixture=mixture, loss=loss, seed=seed, preset=preset, lr_g=toy.PRESETS[preset].lr_g))
    else:  # the usual game's Adam for G after the same head start
        game = toy.ToyGame(toy.ToyConfig(mixture=mixture, loss=loss, seed=seed))
        game.head_start_left = toy.PRESETS[preset].head_start
    start = time.perf_counter()
    game.head_start(game.head_start_left)
    rows = []
    for check in checks:
        game.train(check - game.step)
        coverage = game.coverage()
        pulls = game.pulls()
        rows.append({
            "step": game.step, "distance": round(distance_to_data(game), 4), "covered": coverage.covered, "on_modes": round(coverage.on_modes, 3),
            "d_fake": pulls["d_fake"], "pull_non_saturating": pulls["non-saturating"], "pull_minimax": pulls["minimax"],
        })  # fmt: skip
    return {"optimizer": optimizer, "loss": loss, "seed": seed, "seconds": round(time.perf_counter() - start, 2), "checks": rows}


def head_start_main(args, argv) -> int:
    checks = sorted({0, 250, 500, 1000, args.steps} & set(range(args.steps + 1)))
    result = {**header("toy_game_head_start", "toy_game.py", argv), "threads": 1, "mixture": args.mixture, "preset": args.preset, "games": []}
    for optimizer in ("sgd", "adam"):
        for loss in args.losses:
            for seed in range(args.seeds):
                game = head_start_game(args.preset, optimizer, loss, seed, args.mixture, args.steps, checks)
                result["games"].append(game)
                trail = " ".join(f"{r['step']}:{r['distance']:.2f}/{r['covered']}" for r in game["checks"])
                last = game["checks"][-1]
                print(
                    f"G {optimizer:4s} {loss:15s} seed {seed}: distance/modes {trail}; D(G(z)) {last['d_fake']:.2g}, "
                    f"pull {last['pull_non_saturating']:.2g} (non-sat.) / {last['pull_minimax']:.2g} (minimax); {game['seconds']} s",
                    flush=True,
                )
    print("\nmedian over the seeds (distance to the data at each check; modes covered and D(G(z)) at the end):")
    summary = {}
    for optimizer in ("sgd", "adam"):
        for loss in args.losses:
            games = [g for g in result["games"] if g["optimizer"] == optimizer and g["loss"] == loss]
            row = {
                "distance": {str(c): statistics.median(g["checks"][i]["distance"] for g in games) for i, c in enumerate(checks)},
                "covered_median": statistics.median(g["checks"][-1]["covered"] for g in games),
                "covered_range": [min(g["checks"][-1]["covered"] for g in games), max(g["checks"][-1]["covered"] for g in games)],
                "reached_data": sum(g["checks"][-1]["distance"] < 0.5 for g in games),  # within 10 sigma of a mode, on average
                "d_fake_median": statistics.median(g["checks"][-1]["d_fake"] for g in games),
                "pull_ratio_at_start": statistics.median(g["checks"][0]["pull_minimax"] / g["checks"][0]["pull_non_saturating"] for g in games),
            }  # fmt: skip
            summary[f"{optimizer}/{loss}"] = row
            distances = " ".join(f"{c}: {d:.2f}" for c, d in row["distance"].items())
            print(
                f"G {optimizer:4s} {loss:15s} distance {distances}; modes {row['covered_median']} ({row['covered_range'][0]}-"
                f"{row['covered_range'][1]}); {row['reached_data']}/{len(games)} within 0.5 of the data; D(G(z)) {row['d_fake_median']:.2g}; "
                f"minimax/non-saturating pull at step 0: {row['pull_ratio_at_start']:.2g}"
            )
    result["summary"] = summary
    print(f"wrote {write_result(result, args.out, 'toy_game_head_start.json')}")
    return 0


def median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 3)


def summarise(races: list[dict]) -> dict:
    done = [r for r in races if r["outcome"] == "all modes"]
    return {
        "seeds": len(races),
        "covered_all": len(done),
        "collapsed_at_cap": sum(r["outcome"] == "collapsed" for r in races),
        "not_found_at_cap": sum(r["outcome"] == "not found" for r in races),
        "passed_through_collapse": sum(r["passed_collapse"] for r in races),
        "median_steps": statistics.median(r["steps"] for r in done) if done else None,
        "median_seconds": round(statistics.median(r["seconds"] for r in done), 3) if done else None,
        "max_seconds": max(r["seconds"] for r in done) if done else None,
        "ms_per_step": round(1000 * sum(r["seconds"] for r in races) / sum(r["steps"] for r in races), 3),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=8, help="seeds 0..N-1")
    p.add_argument("--losses", nargs="+", default=list(toy.LOSSES), choices=toy.LOSSES)
    p.add_argument("--mixture", default="ring8", choices=sorted(toy.MIXTURES))
    p.add_argument("--cap-steps", type=int, default=6000, help="a game that has not covered every mode by then counts as collapsed")
    p.add_argument("--check-every", type=int, default=50)
    p.add_argument("--repeats", type=int, default=50, help="frames timed")
    p.add_argument("--preset", default="usual", choices=sorted(toy.PRESETS), help="head-start: the saturation comparison instead")
    p.add_argument("--steps", type=int, default=2000, help="with --preset head-start: steps after the head start")
    p.add_argument("--out", help="result JSON (default benchmarks/results/toy_game.json, or toy_game_head_start.json)")
    args = p.parse_args(argv)
    if args.seeds < 1 or args.cap_steps < args.check_every or args.check_every < 1 or args.repeats < 1 or args.steps < 1:
        p.error("--seeds, --check-every, --repeats and --steps must be at least 1, and --cap-steps at least --check-every")
    torch.set_num_threads(1)
    if args.preset != "usual":
        return head_start_main(args, argv)
    result = {**header("toy_game", "toy_game.py", argv), "threads": 1, "mixture": args.mixture, "cap_steps": args.cap_steps, "losses": {}}
    for loss in args.losses:
        races = []
        for seed in range(args.seeds):
            races.append(race(toy.ToyConfig(mixture=args.mixture, loss=loss, seed=seed), args.cap_steps, args.check_every))
            r = races[-1]
            outcome = r["outcome"]
            if outcome != "all modes":
                outcome += f" at the cap ({r['modes_at_cap']} modes covered, {r['on_modes_at_cap']:.0%} of the points on one)"
            print(f"{loss:15s} seed {seed}: {outcome} after {r['steps']} steps, {r['seconds']:.2f} s", flush=True)
        summary = summarise(races)
        result["losses"][loss] = {"summary": summary, "runs": races}
        print(
            f"{loss}: {summary['covered_all']}/{summary['seeds']} seeds covered all modes, median {summary['median_steps']} steps / "
            f"{summary['median_seconds']} s; at the cap of {args.cap_steps}: {summary['collapsed_at_cap']} collapsed, "
            f"{summary['not_found_at_cap']} never found the data; "
            f"{summary['passed_through_collapse']} passed through a collapse; {summary['ms_per_step']} ms per step"
        )

    game = toy.ToyGame(toy.ToyConfig(mixture=args.mixture))
    game.train(500)
    field = game.verdict_field(toy.FIELD_RESOLUTION)
    real, fake = game.shown_real.numpy(), game.shown_fake().numpy()
    picture = toy.render(field, real, fake, game.mixture.extent)
    settings = [args.mixture, 2, 1e-3, 1e-3, 1, "non-saturating", 0]
    costs = {
        "frame_ms": median_ms(lambda: toy.frame(game), args.repeats),
        "verdict_field_ms": median_ms(lambda: game.verdict_field(toy.FIELD_RESOLUTION), args.repeats),
        "render_ms": median_ms(lambda: toy.render(field, real, fake, game.mixture.extent), args.repeats),
        "jpeg_ms": median_ms(lambda: jpeg_data_url(picture), args.repeats),
        "png_ms": median_ms(lambda: data_url(picture), args.repeats),  # what the JPEG replaced
        "png_bytes": len(data_url(picture)),
        "one_step_ms": median_ms(lambda: toy.one_step(game, *settings), max(5, args.repeats // 5)),
        "frame_bytes": len(toy.frame(game)["src"]),
    }
    result["costs"] = costs
    print(
        f"frame {costs['frame_ms']} ms (D over the plane {costs['verdict_field_ms']} ms, drawing {costs['render_ms']} ms, "
        f"JPEG {costs['jpeg_ms']} ms; {costs['frame_bytes']:,} bytes as a data URL; a PNG {costs['png_ms']} ms, {costs['png_bytes']:,} bytes); "
        f"one slow step {costs['one_step_ms']} ms"
    )
    print(f"wrote {write_result(result, args.out, 'toy_game.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
