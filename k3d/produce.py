"""Print synthetic events of one domain as ``key<TAB>json`` lines for kafka-console-producer.

The k3d Kafka is reachable only inside the cluster, so ``make k3d-produce`` pipes these lines
into the console producer of the broker pod (``kubectl exec -i``). Same generators, keys and
payloads as the local producers (coelho.domains).

    python k3d/produce.py tfd --count 1000 --seed 7 [--fraud-probability 0.05 ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping

from coelho import domains
from coelho.producer_options import add_generator_options, chosen_options


def lines(
    domain: str, count: int, seed: int, options: Mapping[str, float] | None = None
) -> list[str]:
    """``count`` lines ``<record key>\\t<event JSON>`` of ``domain`` (on the real clock)."""
    spec = domains.get(domain)
    generator = spec.generate(seed=seed, options=options)
    out = []
    for _ in range(count):
        event = generator.next_event()
        out.append(f"{event[spec.record_key]}\t{json.dumps(event, separators=(',', ':'))}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("domain", choices=sorted(domains.REGISTRY))
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--topic", action="store_true", help="print only the domain's topic")
    add_generator_options(parser)
    args = parser.parse_args(argv)
    try:
        options = chosen_options(args, args.domain)
    except ValueError as exc:
        parser.error(str(exc))
    if args.topic:
        print(domains.get(args.domain).topic)
        return 0
    sys.stdout.write("\n".join(lines(args.domain, args.count, args.seed, options)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
