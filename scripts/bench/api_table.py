#!/usr/bin/env python3
"""The table of scripts/bench-api.sh: dlrnapi vs promoter, from the JSON lines
of dlrn_baseline.py and promoter_api.py.

  api_table.py DLRNAPI.jsonl PROMOTER.jsonl

Bars, from PRODUCT.md "Speed it must reach" (per invocation, process start
included): must = median < 10 ms and >= 20x faster than dlrnapi; aim =
median < 3 ms and >= 50x.  Peak memory: must < 64 MiB, aim < 32 MiB (shown
beside the RSS).  `why` has no dlrnapi command; it is compared with dlrnapi
repo-status (what the old tooling reads to answer it).  Exit status 0 unless
an input is unreadable: a figure that misses a bar is a result, not a failure.
"""

import json
import math
import sys

MUST_MS, MUST_X = 10.0, 20.0
AIM_MS, AIM_X = 3.0, 50.0
MUST_RSS, AIM_RSS = 64 * 1024, 32 * 1024     # KiB
COUNTERPART = {'why': 'repo-status'}
# `run` has no counterpart: its bars are absolute (PRODUCT.md: "run with
# nothing new to do": must < 50 ms, aim < 15 ms).
ABSOLUTE = {'run': (50.0, 15.0)}


def load(path):
    rows = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith('{'):
                r = json.loads(line)
                rows[r['op']] = r
    return rows


def down(x, digits=1):
    """x shown rounded down, so a figure just under a bar never prints as it."""
    f = 10 ** digits
    return '%.*f' % (digits, math.floor(x * f) / f)


def bar(ms, ratio, lim_ms, lim_x):
    misses = []
    if ms >= lim_ms:
        misses.append('%.2f ms >= %g' % (ms, lim_ms))
    if ratio is None:
        misses.append('no dlrnapi figure')
    elif ratio < lim_x:
        misses.append('%sx < %gx' % (down(ratio), lim_x))
    return 'yes' if not misses else 'NO (%s)' % ', '.join(misses)


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    dl, pr = load(argv[1]), load(argv[2])
    ops = list(pr) + [o for o in dl if o not in pr]
    head = ('op', 'dlrnapi median ms', 'promoter median ms', 'ratio',
            'promoter p90 ms', 'promoter max RSS', 'must (<10 ms, >=20x)',
            'aim (<3 ms, >=50x)')
    rows, notes = [], []
    for op in ops:
        p = pr.get(op, {})
        d = dl.get(COUNTERPART.get(op, op), {})
        dms = d.get('median_ms')
        dcol = '-' if dms is None else '%.1f' % dms
        if op in COUNTERPART and dms is not None:
            dcol += ' (%s)' % COUNTERPART[op]
        if 'median_ms' not in p:
            why = p.get('skipped') or p.get('error') or 'not run'
            state = 'skipped' if 'skipped' in p else 'ERROR' if 'error' in p else '-'
            rows.append((op, dcol, state, '-', '-', '-', '-', '-'))
            notes.append('%s: %s%s' % (op, why, (': ' + p['command']) if 'command' in p else ''))
            continue
        pms = p['median_ms']
        if op in ABSOLUTE:
            must, aim = ABSOLUTE[op]
            rows.append((op, '-', '%.2f' % pms, '-', '%.2f' % p['p90_ms'],
                         '%.1f MiB' % (p.get('max_rss_kib', 0) / 1024.0),
                         'yes' if pms < must else 'NO (%.2f ms >= %g)' % (pms, must),
                         'yes' if pms < aim else 'NO (%.2f ms >= %g)' % (pms, aim)))
            continue
        ratio = dms / pms if dms is not None and pms > 0 else None
        rss = p.get('max_rss_kib')
        if rss is None:
            rcol = '-'
        else:
            rcol = ('<= ' if p.get('max_rss_upper_bound') else '') + \
                '%.1f MiB' % (rss / 1024.0)
            rcol += '' if rss < AIM_RSS else ' (>= 32 MiB aim)' if rss < MUST_RSS \
                else ' (>= 64 MiB must!)'
        rows.append((op, dcol, '%.2f' % pms,
                     '-' if ratio is None else '%sx faster' % down(ratio),
                     '%.2f' % p['p90_ms'], rcol,
                     bar(pms, ratio, MUST_MS, MUST_X), bar(pms, ratio, AIM_MS, AIM_X)))
    widths = [max(len(str(r[i])) for r in [head] + rows) for i in range(len(head))]
    line = lambda r: '| ' + ' | '.join(str(c).ljust(w) for c, w in zip(r, widths)) + ' |'
    print(line(head))
    print('|' + '|'.join('-' * (w + 2) for w in widths) + '|')
    for r in rows:
        print(line(r))
    ns = sorted({v.get('n') for v in list(dl.values()) + list(pr.values()) if v.get('n')})
    print('\nn per op: %s; medians and p90 are per invocation, process start included.'
          % ', '.join(map(str, ns)))
    for n in notes:
        print('note: ' + n)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
