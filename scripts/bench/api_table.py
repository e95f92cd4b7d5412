#!/usr/bin/env python3
"""The table of scripts/bench-api.sh: dlrnapi vs promoter, from the JSON lines
of dlrn_baseline.py and promoter_api.py.

  api_table.py DLRNAPI.jsonl PROMOTER.jsonl

Every row gives the median, its ratio to /bin/true (the floor: starting a
process, timed by the same runner in the same run) and, for the dlrnapi
commands, how many times faster than the `dlrnapi` client it is.

Bars, from PRODUCT.md "Speed it must reach" (per invocation, process start
included, 1,000,000 votes):
  report-result, repo-status, promotion-get, repo-get, why:
      must = median < 10 ms and >= 20x faster than dlrnapi;
      aim  = <= 1.7x /bin/true and >= 80x faster than dlrnapi;
  promoter --version: aim <= 1.2x /bin/true (no must);
  run with nothing new: must < 50 ms; aim <= 3x /bin/true.
Peak memory: must < 64 MiB, aim < 32 MiB (shown beside the RSS).  `why` has
no dlrnapi command; it is compared with dlrnapi repo-status (what the old
tooling reads to answer it).  Exit status 0 unless an input is unreadable: a
figure that misses a bar is a result, not a failure.
"""

import json
import math
import sys

MUST_MS, MUST_X = 10.0, 20.0
AIM_FLOOR, AIM_X = 1.7, 80.0
MUST_RSS, AIM_RSS = 64 * 1024, 32 * 1024     # KiB
COUNTERPART = {'why': 'repo-status'}
# (must: median below this many ms, aim: at most this many times /bin/true)
ABSOLUTE = {'run': (50.0, 3.0), '--version': (None, 1.2)}


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


def up(x, digits=2):
    """x shown rounded up, so a figure just over a bar never prints as it."""
    f = 10 ** digits
    return '%.*f' % (digits, math.ceil(x * f) / f)


def verdict(misses):
    return 'yes' if not misses else 'NO (%s)' % ', '.join(misses)


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    dl, pr = load(argv[1]), load(argv[2])
    floor = pr.pop('/bin/true', {}).get('median_ms')
    version = pr.pop('--version', None)
    ops = list(pr) + [o for o in dl if o not in pr]
    head = ('op', 'dlrnapi median ms', 'promoter median ms', 'x /bin/true',
            'vs dlrnapi', 'promoter p90 ms', 'promoter max RSS',
            'must', 'aim')
    rows, notes = [], []

    def x_floor(ms):
        return ms / floor if floor else None

    def xcol(ms):
        x = x_floor(ms)
        return '-' if x is None else '%sx' % up(x)

    if floor is not None:
        rows.append(('/bin/true', '-', '%.2f' % floor, '1.00x', '-', '-', '-', '-', '-'))
    else:
        notes.append('/bin/true was not timed: no ratio to the floor')
    if version is not None and 'median_ms' in version:
        vms = version['median_ms']
        x = x_floor(vms)
        aim = '-' if x is None else verdict(
            [] if x <= ABSOLUTE['--version'][1] else
            ['%sx > %gx' % (up(x), ABSOLUTE['--version'][1])])
        rows.append(('promoter --version', '-', '%.2f' % vms, xcol(vms), '-',
                     '%.2f' % version['p90_ms'], '-', '-', aim + ' (<= 1.2x /bin/true)'))
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
            rows.append((op, dcol, state, '-', '-', '-', '-', '-', '-'))
            notes.append('%s: %s%s' % (op, why, (': ' + p['command']) if 'command' in p else ''))
            continue
        pms = p['median_ms']
        x = x_floor(pms)
        rss = p.get('max_rss_kib')
        if rss is None:
            rcol = '-'
        else:
            rcol = ('<= ' if p.get('max_rss_upper_bound') else '') + \
                '%.1f MiB' % (rss / 1024.0)
            rcol += '' if rss < AIM_RSS else ' (>= 32 MiB aim)' if rss < MUST_RSS \
                else ' (>= 64 MiB must!)'
        if op in ABSOLUTE:
            must_ms, aim_x = ABSOLUTE[op]
            must = verdict([] if pms < must_ms else ['%.2f ms >= %g' % (pms, must_ms)])
            aim = verdict(['no /bin/true figure'] if x is None else
                          [] if x <= aim_x else ['%sx > %gx' % (up(x), aim_x)])
            rows.append((op, '-', '%.2f' % pms, xcol(pms), '-', '%.2f' % p['p90_ms'],
                         rcol, must + ' (< %g ms)' % must_ms,
                         aim + ' (<= %gx /bin/true)' % aim_x))
            continue
        ratio = dms / pms if dms is not None and pms > 0 else None
        must, aim = [], []
        if pms >= MUST_MS:
            must.append('%.2f ms >= %g' % (pms, MUST_MS))
        if x is None:
            aim.append('no /bin/true figure')
        elif x > AIM_FLOOR:
            aim.append('%sx > %gx /bin/true' % (up(x), AIM_FLOOR))
        if ratio is None:
            must.append('no dlrnapi figure')
            aim.append('no dlrnapi figure')
        else:
            if ratio < MUST_X:
                must.append('%sx < %gx' % (down(ratio), MUST_X))
            if ratio < AIM_X:
                aim.append('%sx < %gx' % (down(ratio), AIM_X))
        rows.append((op, dcol, '%.2f' % pms, xcol(pms),
                     '-' if ratio is None else '%sx faster' % down(ratio),
                     '%.2f' % p['p90_ms'], rcol, verdict(must), verdict(aim)))
    widths = [max(len(str(r[i])) for r in [head] + rows) for i in range(len(head))]
    line = lambda r: '| ' + ' | '.join(str(c).ljust(w) for c, w in zip(r, widths)) + ' |'
    print(line(head))
    print('|' + '|'.join('-' * (w + 2) for w in widths) + '|')
    for r in rows:
        print(line(r))
    ns = sorted({v.get('n') for v in list(dl.values()) + list(pr.values()) if v.get('n')})
    print('\nn per op: %s; medians and p90 are per invocation, process start included.'
          % ', '.join(map(str, ns)))
    print('bars: dlrnapi commands and why: must < %g ms and >= %gx dlrnapi; '
          'aim <= %gx /bin/true and >= %gx dlrnapi; run: must < 50 ms, aim <= 3x '
          '/bin/true; --version: aim <= 1.2x /bin/true (PRODUCT.md)'
          % (MUST_MS, MUST_X, AIM_FLOOR, AIM_X))
    for n in notes:
        print('note: ' + n)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
