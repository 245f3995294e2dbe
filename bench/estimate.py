"""How often the completion estimate's range holds the real completion, and how wide it is.

    .venv/bin/python -m bench.estimate                    # seeds 1 (learn) and 2 (measure), 180 days each
    .venv/bin/python -m bench.estimate --train 3 --test 4 --days 365

The history is engine.customer.history_model's (two centres, right-skewed stage times, QA rework, parts on back
order, waits for the customer, declined quotes). The estimate learns from the RMAs of the train seed that each
centre closed in the window (RMA_ETA_WINDOW_DAYS) and is measured on every RMA of the test seed, at intake
(nothing known yet) and right after diagnosis (warranty, quote or no fault known). A range holds when the real
days still to go fall inside it (in days, not the rounded dates the customer sees, which are a little wider).
No database, a few seconds.
"""

from __future__ import annotations

import argparse

from engine.customer import eta, history_model

METHODS = [
    ("p20-p80 (before)", eta.EtaSettings(low_percentile=20, high_percentile=80, coverage=0)),
    ("p10-p90", eta.EtaSettings(low_percentile=10, high_percentile=90, coverage=0)),
    ("narrowest 85% (default)", eta.EtaSettings()),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.estimate", description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=1, help="seed of the history the estimate learns from")
    parser.add_argument("--test", type=int, default=2, help="seed of the history it is measured on")
    parser.add_argument("--days", type=int, default=180, help="days of RMAs in each history")
    args = parser.parse_args(argv)
    train = history_model.generate(args.train, args.days)
    test = history_model.generate(args.test, args.days)
    print(f"learnt from seed {args.train} ({len(train)} RMAs), measured on seed {args.test} ({len(test)} RMAs)")
    header = f"{'range':<26}{'centre':<8}{'point':<18}{'RMAs':>6}{'held':>8}{'median width (days)':>22}"
    print(header)
    print("-" * len(header))
    for name, settings in METHODS:
        for centre in ("all", *history_model.CENTRES):
            measured = test if centre == "all" else [r for r in test if r.centre == centre]
            for point, result in history_model.measure(train, measured, settings).items():
                print(
                    f"{name:<26}{centre:<8}{point:<18}{result.rmas:>6}{result.share:>8.1%}{result.median_width:>22.2f}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
