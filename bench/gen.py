#!/usr/bin/env python3
"""gen.py [--user-per-service] N [OUT]: write the synthetic scenario "scale-N" (TOML) to OUT,
or to stdout.

The workload of bench/compare.sh. Shape (byte-identical to shared/bench/gen_scenario.py N):
Istio 1.22.0, profile demo, namespace "scale"; N services svc-0000.. on port 8080 with
versions v1 v2 v3 (image example.com/app/<svc>-<v>:1.0, service account sa-<svc>); a
gateway "scale-N-gateway" routing prefix "/" to svc-0000; five steps that touch every
service: all-v1, jason-v2, delay (7s for jason), split (v1 50 / v3 50), all-v3.
With --user-per-service, each service's rules match its own user (end-user = "user-<svc>")
rather than jason: no two services' rules alike (scripts/memory.sh measures both shapes).
"""
import sys

VERSIONS = ("v1", "v2", "v3")
JASON = 'headers = { end-user = "jason" }'


def header(n):
    yield f'name = "scale-{n}"'
    yield f'description = "Synthetic scale scenario: {n} services x 3 versions, 5 steps"'
    yield ""
    yield from ("[mesh]", 'version = "1.22.0"', 'profile = "demo"', "")
    yield from ("[namespace]", 'name = "scale"', "")


def services(names):
    for svc in names:
        yield "[[services]]"
        yield f'name = "{svc}"'
        yield "port = 8080"
        yield f'service_account = "sa-{svc}"'
        for v in VERSIONS:
            yield f"  [services.versions.{v}]"
            yield f'  image = "example.com/app/{svc}-{v}:1.0"'
        yield ""


def gateway(n, first):
    yield from ("[gateway]", f'name = "scale-{n}-gateway"', "port = 8080")
    yield from ("[[gateway.routes]]", f'service = "{first}"', 'uris = [ { prefix = "/" } ]', "")


def step(name, description, routes):
    """One [[steps]] table; routes is a list of route bodies (lists of key = value lines)."""
    yield from ("[[steps]]", f'name = "{name}"', f'description = "{description}"')
    for body in routes:
        yield "[[steps.routes]]"
        yield from body


def steps(names, users):
    def user(svc, line):
        return f'headers = {{ end-user = "user-{svc}" }}' if users and line == JASON else line

    def per_service(*bodies):
        return [[f'service = "{svc}"', *(user(svc, line) for line in body)]
                for svc in names for body in bodies]

    yield from step("all-v1", "Route every service to v1", [['service = "*"', 'to = "v1"']])
    yield from step("jason-v2", "Send end-user jason to v2 on every service",
                    per_service([JASON, 'to = "v2"'], ['to = "v1"']))
    yield from step("delay", "Inject a 7s delay for jason on every service",
                    per_service([JASON, 'to = "v1"', 'delay = "7s"', "delay_percent = 100.0"],
                                ['to = "v1"']))
    yield from step("split", "Shift every service 50/50 between v1 and v3",
                    per_service(["to = { v1 = 50, v3 = 50 }"]))
    yield from step("all-v3", "Route every service to v3", [['service = "*"', 'to = "v3"']])


def scenario(n, users=False):
    names = [f"svc-{i:04d}" for i in range(n)]
    lines = [*header(n), *services(names), *gateway(n, names[0]), *steps(names, users)]
    return "\n".join(lines) + "\n"


def main(argv):
    users = len(argv) > 1 and argv[1] == "--user-per-service"
    if users:
        argv = argv[:1] + argv[2:]
    if len(argv) not in (2, 3) or not argv[1].isdigit() or int(argv[1]) < 1:
        sys.exit("usage: gen.py [--user-per-service] N [OUT]   (N >= 1; OUT defaults to stdout)")
    text = scenario(int(argv[1]), users)
    if len(argv) == 3:
        with open(argv[2], "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv)
