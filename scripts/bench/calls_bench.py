#!/usr/bin/env python3
"""Instructions per call: each hot command, `promoter --version` and
`/bin/true`, counted by valgrind's callgrind (user-space instructions of the
whole process, dynamic loader and libc included).

A count does not depend on what else the machine is doing, so this is the
figure to compare two binaries with on a shared machine (scripts/bench-api.sh
gives the wall-clock medians against the dlrnapi client).  Every call gets
the same arguments for every binary: the database of scripts/bench-api.sh
(built once, cached under --cache-dir, copied for each binary so writes of
one never reach the other), a warm-up call first.

  python3 scripts/bench/calls_bench.py --bin target/x86_64-unknown-linux-gnu/release/promoter \\
      [--bin OTHER ...] [--builds N --votes M] [--cache-dir DIR]

One JSON line per binary and call on stdout, then a table: instructions,
and the ratio to /bin/true and to the first binary.  Standard library only.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promoter_api  # noqa: E402

OPS = ('--version', 'repo-status', 'report-result', 'promotion-get', 'repo-get',
       'why', 'run')


def instructions(argv):
    """User-space instructions of one run of argv, and its exit status."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, 'cg.out')
        r = subprocess.run(['valgrind', '--tool=callgrind', '--callgrind-out-file=' + out]
                           + argv, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True)
        m = re.search(r'Collected : (\d+)', r.stderr)
        if not m:
            raise promoter_api.Fatal('callgrind printed no count for %s:\n%s'
                                     % (' '.join(argv), r.stderr[-1500:]))
        return int(m.group(1)), r.returncode


def calls(binary, cached, workdir, seed):
    """(op, argv) of every call, on this binary's own copy of the database."""
    db = os.path.join(workdir, 'promoter.sqlite')
    shutil.copyfile(cached, db)
    wl = promoter_api.PromoterWorkload(db, seed)
    config = promoter_api.write_why_config(workdir, db, wl)
    client = promoter_api.Client(binary, db, config)
    out = []
    for op in OPS:
        if op == '--version':
            out.append((op, [binary, '--version']))
        else:
            out.append((op, client.argv(op, *wl.args(op))))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--bin', action='append', required=True,
                    help='a promoter binary; give several to compare them')
    ap.add_argument('--builds', type=int, default=100000)
    ap.add_argument('--votes', type=int, default=1000000)
    ap.add_argument('--seed', type=int, default=20240601)
    ap.add_argument('--cache-dir', default='/tmp/dlrn-bench')
    a = ap.parse_args()
    if not shutil.which('valgrind'):
        raise promoter_api.Fatal('valgrind is needed (Debian package valgrind)')
    floor, code = instructions(['/bin/true'])
    print(json.dumps({'binary': '/bin/true', 'op': '/bin/true', 'instructions': floor}),
          flush=True)
    counts = {}
    for binary in a.bin:
        binary = os.path.abspath(binary)
        workdir = tempfile.mkdtemp(prefix='promoter-calls-')
        try:
            cached = promoter_api.ensure_db(binary, os.path.abspath(a.cache_dir),
                                            workdir, a.builds, a.votes, a.seed)
            for op, argv in calls(binary, cached, workdir, a.seed):
                subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True)
                n, code = instructions(argv)
                if code != 0:
                    raise promoter_api.Fatal('%s exited %d' % (' '.join(argv), code))
                counts[(binary, op)] = n
                print(json.dumps({'binary': binary, 'op': op, 'instructions': n}),
                      flush=True)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    first = os.path.abspath(a.bin[0])
    print()
    print('instructions per call (callgrind), %d builds, %d votes; /bin/true: %d'
          % (a.builds, a.votes, floor))
    head = '| op | ' + ' | '.join(
        '%s | x /bin/true%s' % (b, '' if os.path.abspath(b) == first else ' | x first')
        for b in a.bin) + ' |'
    print(head)
    print('|' + '---|' * (head.count('|') - 1))
    for op in OPS:
        cells = []
        for b in a.bin:
            b = os.path.abspath(b)
            n = counts[(b, op)]
            cells.append('%d' % n)
            cells.append('%.2fx' % (n / floor))
            if b != first:
                cells.append('%.2fx' % (n / counts[(first, op)]))
        print('| %s | %s |' % (op, ' | '.join(cells)))
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except promoter_api.Fatal as e:
        print('calls_bench: error: %s' % e, file=sys.stderr)
        sys.exit(1)
