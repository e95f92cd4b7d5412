#!/usr/bin/env python3
"""promoter's side of the dlrnapi benchmark (dlrn_baseline.py is the other).

  1. builds (once, cached under --cache-dir) a promoter database from exactly
     the rows of dlrn_data.py: `promoter --db DB init` creates the schema,
     the rows go in with sqlite3 in one transaction, then ANALYZE.  The cache
     key is counts + seed + dlrn_data.GENERATOR_VERSION + the schema version
     the binary writes (PRAGMA user_version), so a schema bump rebuilds it;
  2. copies it to a scratch directory (runs never change the cache);
  3. times N invocations of each op as a subprocess (process start included,
     as a CI job calls it), with the arguments that dlrn_baseline.py gives
     `dlrnapi` (same Workload class, same seed, same op order, same warmup
     and N: the same builds and jobs, call for call), and measures the peak
     RSS of one more invocation of each op (GNU /usr/bin/time -v when
     present, else wait4()'s rusage, an upper bound flagged
     "max_rss_upper_bound": true); one JSON line per op on stdout:
       {"tool":"promoter","op":"repo-status","median_ms":..,"p90_ms":..,
        "n":..,"max_rss_kib":..}
     Then the floors, timed by the same runner (half of their samples
     before the ops, half after): {"tool":"floor","op":"/bin/true",..} and
     {"tool":"floor","op":"--version",..}.
     An op the binary does not have prints {"tool":"promoter","op":..,
     "skipped":..}; an op that fails (exit status not 0, or stdout not JSON)
     prints {"tool":"promoter","op":..,"error":..,"command":..,"stderr":..},
     the other ops still run, and the exit status is 1.

The dlrnapi commands are called as a job script calls them: no --json (JSON
is their default output), `-u ciuser` where dlrnapi gets --username.
`why` (no dlrnapi counterpart) runs with a config written into the scratch
directory (two promotions, criteria = the busiest CI jobs) and --json.

Standard library only.  Quick run:
  python3 scripts/bench/promoter_api.py --cache-dir /tmp/dlrn-bench \\
      --builds 2000 --votes 20000 --n 10 --bin target/x86_64-unknown-linux-gnu/release/promoter
"""

import argparse
import json
import os
import random
import re
import shlex
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import dlrn_data  # noqa: E402
import dlrn_baseline  # noqa: E402
from dlrn_baseline import Fatal, Workload, percentile  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_BIN = os.path.join(
    os.environ.get('CARGO_TARGET_DIR') or os.path.join(REPO_ROOT, 'target'),
    'x86_64-unknown-linux-gnu', 'release', 'promoter')
ALL_OPS = ('report-result', 'repo-status', 'promotion-get', 'repo-get', 'why', 'run')
# same order as dlrn_baseline.DEFAULT_OPS, so both draw the same arguments
DEFAULT_OPS = tuple(o for o in dlrn_baseline.DEFAULT_OPS if o in ALL_OPS) + ('why', 'run')
WHY_PROMOTIONS = ('tripleo-ci-testing', 'current-tripleo')
TIME_BIN = '/usr/bin/time'


def log(msg):
    print('[promoter_api] %s' % msg, file=sys.stderr, flush=True)


# --- database -----------------------------------------------------------------


def run_init(binary, db_path):
    argv = [binary, '--db', db_path, 'init']
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise Fatal('init failed (exit %d): %s\n%s'
                    % (r.returncode, shlex.join(argv), r.stderr[-2000:]))


def schema_version(binary, scratch):
    """The PRAGMA user_version that this binary's `init` writes."""
    probe = os.path.join(scratch, 'probe.sqlite')
    run_init(binary, probe)
    db = sqlite3.connect('file:%s?mode=ro' % probe, uri=True)
    try:
        return db.execute('PRAGMA user_version').fetchone()[0]
    finally:
        db.close()


def repo_dir(ch, dh, comp):
    d = '%s/%s/%s_%s' % (ch[:2], ch[2:4], ch, dh[:8])
    return d if comp is None else 'component/%s/%s' % (comp, d)


def build_db(binary, path, n_builds, n_votes, seed):
    t_start = time.monotonic()
    tmp = '%s.tmp.%d' % (path, os.getpid())
    for p in (tmp, tmp + '-wal', tmp + '-shm', tmp + '-journal'):
        if os.path.exists(p):
            os.remove(p)
    run_init(binary, tmp)            # promoter's own schema (and WAL mode)

    db = sqlite3.connect(tmp, isolation_level=None)
    try:
        db.execute('PRAGMA synchronous=OFF')
        db.execute('PRAGMA cache_size=-200000')
        db.execute('BEGIN')
        meta = []

        def builds():
            for b in dlrn_data.build_rows(n_builds, seed):
                meta.append((b[8], b[9], b[5]))
                (bid, ch, dh, eh, project, comp, dtc, dtd, dtb, status,
                 branch) = b
                notes = dlrn_data.derived_commit_columns(b)[4]
                yield (bid, ch, dh, eh or '', comp, project, branch, status, 0,
                       dtc, dtd, None, dtb, notes, bid, repo_dir(ch, dh, comp),
                       '%s_%s' % (ch, dh[:8]), 0, 0, dtb)
        db.executemany(
            'INSERT INTO builds(id, commit_hash, distro_hash, extended_hash, '
            'component, project_name, commit_branch, status, flags, dt_commit, '
            'dt_distro, dt_extended, dt_build, notes, dlrn_id, repo_dir, '
            'full_hash, consistent, package_count, imported_at) '
            'VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)', builds())
        log('  %d builds inserted (%.1fs)' % (len(meta), time.monotonic() - t_start))

        consistent = []

        def votes():
            for (vid, cid, job, url, vote, inprog, ts, notes, user,
                 _comp) in dlrn_data.vote_rows(n_builds, n_votes, seed, meta=meta):
                if job == 'consistent':
                    consistent.append((cid,))
                yield (vid, cid, None, job, vote, inprog, url or '', notes or '',
                       ts, user if user is not None else 'dlrn', ts)
        db.executemany(
            'INSERT INTO votes(id, build_id, aggregate_id, job_id, success, '
            'in_progress, url, notes, timestamp, user, recorded_at) '
            'VALUES (?,?,?,?,?,?,?,?,?,?,?)', votes())
        db.executemany('UPDATE builds SET consistent = 1 WHERE id = ?', consistent)
        log('  votes inserted, %d builds consistent (%.1fs)'
            % (len(consistent), time.monotonic() - t_start))

        labels = {}      # name -> (build_id, previous_build_id, timestamp)

        def promotions():
            for (pid, cid, name, ts, user, comp,
                 agg) in dlrn_data.promotion_rows(n_builds, seed, meta=meta):
                prev = labels.get(name)
                labels[name] = (cid, prev[0] if prev else None, ts)
                yield (pid, name, cid, None, agg, comp, 'promote', ts, user, '')
        db.executemany(
            'INSERT INTO promotions(id, name, build_id, previous_build_id, '
            'aggregate_hash, component, kind, timestamp, user, reason) '
            'VALUES (?,?,?,?,?,?,?,?,?,?)', promotions())
        # Where the labels point after that history (what `import` and the
        # promotions would have left): the builder's consistent/current, and
        # each promotion name at its newest promotion.
        rows = [(name, bid, prev, 'promoter', ts)
                for name, (bid, prev, ts) in sorted(labels.items())]
        for name, where in (('consistent', 'consistent = 1'),
                            ('current', "status = 'SUCCESS'")):
            r = db.execute('SELECT id, dt_build FROM builds WHERE %s '
                           'ORDER BY dt_build DESC, id DESC LIMIT 2' % where
                           ).fetchall()
            if r:
                rows.append((name, r[0][0], r[1][0] if len(r) > 1 else None,
                             'builder', r[0][1]))
        db.executemany(
            "INSERT INTO labels(name, component, build_id, previous_build_id, "
            "source, updated_at) VALUES (?, '', ?, ?, ?, ?)", rows)
        db.execute('COMMIT')
        db.execute('ANALYZE')
        db.execute('PRAGMA wal_checkpoint(TRUNCATE)')
        counts = {t: db.execute('SELECT count(*) FROM %s' % t).fetchone()[0]
                  for t in ('builds', 'votes', 'promotions', 'labels')}
        mode = db.execute('PRAGMA journal_mode').fetchone()[0]
    finally:
        db.close()
    for p in (tmp + '-wal', tmp + '-shm'):
        if os.path.exists(p):
            os.remove(p)
    os.replace(tmp, path)
    log('  built %s in %.1fs (journal_mode %s): %s'
        % (path, time.monotonic() - t_start, mode, counts))


def ensure_db(binary, cache_dir, scratch, n_builds, n_votes, seed):
    os.makedirs(cache_dir, exist_ok=True)
    schema = schema_version(binary, scratch)
    name = 'promoter-g%d-u%d-b%d-v%d-s%d.sqlite' % (
        dlrn_data.GENERATOR_VERSION, schema, n_builds, n_votes, seed)
    path = os.path.join(cache_dir, name)
    if os.path.exists(path):
        log('using cached database %s' % path)
    else:
        log('building database %s (%d builds, %d votes, schema %d)'
            % (path, n_builds, n_votes, schema))
        build_db(binary, path, n_builds, n_votes, seed)
    return path


# --- workload -------------------------------------------------------------------


class PromoterWorkload(Workload):
    """dlrn_baseline.Workload read from the promoter database: the same lists
    in the same order and the same seeded generator, so args(op) gives the
    same arguments call for call as the baseline's, provided the ops run in
    the same order with the same warmup and N.  `why` draws from its own
    generator, so it never shifts the others."""

    def __init__(self, db_path, seed):  # noqa: super().__init__ reads DLRN tables
        db = sqlite3.connect('file:%s?mode=ro' % db_path, uri=True)
        try:
            self.builds = db.execute(
                "SELECT commit_hash, distro_hash FROM builds WHERE status='SUCCESS' "
                'ORDER BY id').fetchall()
            self.jobs = [r[0] for r in db.execute(
                "SELECT DISTINCT job_id FROM votes WHERE job_id != 'consistent' "
                'ORDER BY job_id')]
            self.promoted = db.execute(
                'SELECT b.commit_hash, b.distro_hash FROM promotions p '
                'JOIN builds b ON b.id = p.build_id ORDER BY p.id DESC LIMIT 1'
            ).fetchone()
            self.small = db.execute(
                "SELECT b.commit_hash, b.distro_hash FROM builds b "
                "WHERE b.status='SUCCESS' AND (SELECT count(*) FROM votes v "
                "WHERE v.build_id = b.id) BETWEEN 1 AND 2 ORDER BY b.id DESC LIMIT 1"
            ).fetchone() or (self.builds[-1] if self.builds else None)
            # the busiest CI jobs, for the why config's criteria
            self.top_jobs = [r[0] for r in db.execute(
                "SELECT job_id FROM votes WHERE job_id != 'consistent' "
                'GROUP BY job_id ORDER BY count(*) DESC, job_id LIMIT 6')]
        finally:
            db.close()
        if not self.builds:
            raise Fatal('no SUCCESS build in %s' % db_path)
        self.rng = random.Random('bench-%d' % seed)
        self.why_rng = random.Random('bench-why-%d' % seed)
        self.counter = 0

    def args(self, op):
        if op == 'why':
            return ['--json', '--promotion', self.why_rng.choice(WHY_PROMOTIONS)], False
        if op == 'run':
            # The cron entry with nothing new: import finds no moved link,
            # both promotions are decided, nothing is promoted.
            return ['--json'], False
        return super().args(op)


def write_why_config(workdir, db_path, wl):
    """A minimal release config for `why`: two promotions whose criteria are
    CI jobs reported from elsewhere (votes already in the database)."""
    for d in ('trunk', 'images', 'logs'):
        os.makedirs(os.path.join(workdir, d), exist_ok=True)
    jobs = wl.top_jobs or ['bench-job']
    first, second = jobs[:3], jobs[3:] or jobs[:1]
    path = os.path.join(workdir, 'promoter.yaml')
    with open(path, 'w') as f:
        f.write('release: master\ndistro: centos9\n'
                'database: %s\ntrunk: trunk\nimages: images\nlogs: logs\n'
                'latest_hashes_count: 10\n\npromotions:\n'
                '  tripleo-ci-testing:\n    candidate_label: consistent\n'
                '    criteria: [%s]\n'
                '  current-tripleo:\n    candidate_label: tripleo-ci-testing\n'
                '    criteria: [%s]\n'
                % (json.dumps(db_path), ', '.join(first), ', '.join(second)))
    return path


# --- running --------------------------------------------------------------------


class Client:
    def __init__(self, binary, db_path, config=None):
        self.binary, self.db_path, self.config = binary, db_path, config

    def argv(self, op, args, auth=False):
        a = [self.binary]
        if op in ('why', 'run'):
            a += ['-c', self.config]
        else:
            a += ['--db', self.db_path]
        if auth:
            a += ['-u', dlrn_baseline.BENCH_USER]
        return a + [op] + args

    def run(self, argv):
        t0 = time.perf_counter()
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True)
        return (time.perf_counter() - t0) * 1000.0, r


def has_command(binary, op):
    r = subprocess.run([binary, op, '--help'], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True)
    return r.returncode == 0


def failure(op, argv, r):
    """None when r is a good run, else a description of what went wrong."""
    if r.returncode != 0:
        return 'exit %d' % r.returncode
    try:
        json.loads(r.stdout)
    except ValueError:
        return 'stdout is not JSON: %r' % r.stdout[:300]
    return None


def max_rss_kib(argv):
    """Peak RSS of one run of argv in KiB, whether that figure is only an upper
    bound, and the run's CompletedProcess."""
    if os.access(TIME_BIN, os.X_OK):
        with tempfile.NamedTemporaryFile('r', suffix='.time') as tf:
            r = subprocess.run([TIME_BIN, '-v', '-o', tf.name] + argv,
                               stdin=subprocess.DEVNULL, capture_output=True,
                               text=True)
            m = re.search(r'Maximum resident set size \(kbytes\): (\d+)', tf.read())
            if m:
                return int(m.group(1)), False, r
    # No GNU time: wait4() gives this one child's rusage (ru_maxrss in KiB on
    # Linux).  The kernel keeps the high-water mark across exec, so it also
    # counts this python's pages that the child had before exec: an upper
    # bound (~20 MiB of it is python), not the binary's own peak.
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    out, err = p.stdout.read(), p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return (ru.ru_maxrss, True,
            subprocess.CompletedProcess(argv, p.returncode, out, err))


FLOORS = (('/bin/true', ['/bin/true']), ('--version', None))


def floors(binary, n, warmup):
    """The floor of every per-call figure, timed by the same runner as the
    ops: /bin/true (starting a process) and `promoter --version` (starting
    this binary).  Their samples are split, half before the ops and half
    after (see main), so a load that changes during the run shifts them
    as it shifts the ops."""
    out = {}
    for name, argv in FLOORS:
        argv = argv or [binary, '--version']
        for k in range(warmup + n):
            t0 = time.perf_counter()
            r = subprocess.run(argv, stdin=subprocess.DEVNULL,
                               capture_output=True)
            ms = (time.perf_counter() - t0) * 1000.0
            if r.returncode != 0:
                raise Fatal('%s failed (exit %d)' % (shlex.join(argv), r.returncode))
            if k >= warmup:
                out.setdefault(name, []).append(ms)
    return out


def print_floors(samples, n, binary):
    for name, argv in FLOORS:
        times = sorted(samples[name])
        argv = argv or [binary, '--version']
        print(json.dumps({'tool': 'floor', 'op': name,
                          'median_ms': round(statistics.median(times), 3),
                          'p90_ms': round(percentile(times, 90), 3),
                          'n': len(times), 'command': shlex.join(argv)}),
              flush=True)


def bench(client, wl, ops, n, warmup, skip):
    """Time each op; print one JSON line per op; return how many failed."""
    failed = 0
    for op in ops:
        # draw every argument first, so a skipped or failing op still
        # advances the generator exactly as the baseline does
        calls = [wl.args(op) for _ in range(warmup + n)]
        if op in skip:
            print(json.dumps({'tool': 'promoter', 'op': op, 'skipped': skip[op]}),
                  flush=True)
            log('%s skipped: %s' % (op, skip[op]))
            continue
        times, bad = [], None
        for k, (args, auth) in enumerate(calls):
            argv = client.argv(op, args, auth)
            ms, r = client.run(argv)
            why = failure(op, argv, r)
            if why:
                bad = (why, argv, r)
                break
            if k >= warmup:
                times.append(ms)
        rss, upper = None, False
        if bad is None:
            argv = client.argv(op, *calls[-1])
            rss, upper, r = max_rss_kib(argv)
            why = failure(op, argv, r)
            if why:
                bad = (why, argv, r)
        if bad is not None:
            why, argv, r = bad
            failed += 1
            print(json.dumps({'tool': 'promoter', 'op': op, 'error': why,
                              'command': shlex.join(argv),
                              'stderr': r.stderr[-2000:]}), flush=True)
            log('%s FAILED (%s): %s\n%s' % (op, why, shlex.join(argv),
                                            r.stderr[-2000:]))
            continue
        times.sort()
        res = {'tool': 'promoter', 'op': op,
               'median_ms': round(statistics.median(times), 2),
               'p90_ms': round(percentile(times, 90), 2), 'n': n,
               'max_rss_kib': rss}
        if upper:
            res['max_rss_upper_bound'] = True
        print(json.dumps(res), flush=True)
    return failed


# --- main -----------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="promoter's side of the dlrnapi benchmark (see module doc)")
    ap.add_argument('--cache-dir', required=True,
                    help='where the built promoter databases are kept')
    ap.add_argument('--bin', default=DEFAULT_BIN,
                    help='the promoter binary (default: %(default)s)')
    ap.add_argument('--builds', type=int, default=dlrn_data.DEFAULT_BUILDS)
    ap.add_argument('--votes', type=int, default=dlrn_data.DEFAULT_VOTES)
    ap.add_argument('--seed', type=int, default=dlrn_data.DEFAULT_SEED)
    ap.add_argument('--n', type=int, default=50, help='timed invocations per op')
    ap.add_argument('--warmup', type=int, default=2,
                    help='untimed invocations per op first')
    ap.add_argument('--ops', default=','.join(DEFAULT_OPS),
                    help='comma-separated, from %s; keep the order of '
                    "dlrn_baseline.py's --ops for identical arguments"
                    % ','.join(ALL_OPS))
    ap.add_argument('--build-only', action='store_true',
                    help='only build (or find) the cached database')
    ap.add_argument('--keep-workdir', action='store_true')
    a = ap.parse_args(argv)

    ops = [o for o in a.ops.split(',') if o]
    for o in ops:
        if o not in ALL_OPS:
            ap.error('unknown op %s' % o)
    binary = os.path.abspath(a.bin)
    if not os.access(binary, os.X_OK):
        raise Fatal('%s is not an executable (cargo build --release, or --bin)'
                    % binary)

    workdir = tempfile.mkdtemp(prefix='promoter-bench-')
    try:
        cached = ensure_db(binary, os.path.abspath(a.cache_dir), workdir,
                           a.builds, a.votes, a.seed)
        if a.build_only:
            return 0
        db_path = os.path.join(workdir, 'promoter.sqlite')
        shutil.copyfile(cached, db_path)    # runs never change the cache
        wl = PromoterWorkload(db_path, a.seed)
        config = write_why_config(workdir, db_path, wl) if ('why' in ops or 'run' in ops) else None
        skip = {o: "the binary has no '%s' command" % o
                for o in ops if not has_command(binary, o)}
        log('data: %d builds, %d votes, seed %d; n=%d, warmup %d; %s'
            % (a.builds, a.votes, a.seed, a.n, a.warmup, binary))
        half = max(1, (a.n + 1) // 2)
        before = floors(binary, half, a.warmup)
        failed = bench(Client(binary, db_path, config), wl, ops, a.n, a.warmup,
                       skip)
        after = floors(binary, half, a.warmup)
        print_floors({k: before[k] + after[k] for k in before}, a.n, binary)
    finally:
        if a.keep_workdir:
            log('workdir kept: %s' % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


def _on_signal(signum, _frame):
    raise SystemExit(128 + signum)


if __name__ == '__main__':
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    try:
        sys.exit(main())
    except Fatal as e:
        print('promoter_api: error: %s' % e, file=sys.stderr)
        sys.exit(1)
