"""Print synthetic events of one domain as ``key<TAB>json`` lines for kafka-console-producer.

The k3d Kafka is reachable only inside the cluster, so ``make k3d-produce`` pipes these lines
into the console producer of the broker pod (``kubectl exec -i``). Same generators, keys and
payloads as the local producers (coelho.domains).

    python k3d/produce.py tfd --count 1000 --seed 7
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from datetime import UTC, datetime

from coelho import domains


def lines(domain: str, count: int, seed: int) -> list[str]:
    """``count`` lines ``<record key>\\t<event JSON>`` of ``domain``."""
    spec = domains.get(domain)
    generator = spec.generator(random.Random(seed), None, lambda: datetime.now(UTC))
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
    args = parser.parse_args(argv)
    if args.topic:
        print(domains.get(args.domain).topic)
        return 0
    sys.stdout.write("\n".join(lines(args.domain, args.count, args.seed)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
