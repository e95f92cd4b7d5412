#!/usr/bin/env python3
"""Baseline for promoter's dlrnapi-compatible commands: the real DLRN API
server and the real `dlrnapi` client, on the data of dlrn_data.py.

  1. builds (once, cached under --cache-dir) a DLRN SQLite database: tables
     created by DLRN's own model (dlrn.db.getSession -> create_all), rows
     bulk-inserted with sqlite3, then secondary indexes (the peer at its best);
  2. copies it to a scratch directory (runs never change the cache), starts
     the DLRN API there on 127.0.0.1:<free port> (gunicorn by default,
     --server flask for werkzeug's server);
  3. times N invocations of each `dlrnapi` command as a subprocess (process
     start included, as a CI job calls it), on builds drawn at random (fixed
     seed) from the data, and prints one JSON line per command:
       {"tool":"dlrnapi","op":"repo-status","median_ms":..,"p90_ms":..,"n":..}
  4. stops the server, also on error or signal.

Needs the venv made by setup-dlrn.sh (dlrn, dlrnapi_client, gunicorn);
this script itself uses only the standard library and can run with any
python3.  Quick run:
  python3 scripts/bench/dlrn_baseline.py --cache-dir /tmp/dlrn-bench \
      --builds 2000 --votes 20000 --n 10 --print-samples
"""

import argparse
import json
import math
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dlrn_data  # noqa: E402

BENCH_USER = 'ciuser'          # one of dlrn_data.CI_USERS; used for POSTs
BENCH_PASSWORD = 'bench-password'
ALL_OPS = ('repo-status', 'report-result', 'promotion-get', 'repo-get')
DEFAULT_OPS = ALL_OPS

# Secondary indexes that DLRN's model does not create; each serves a query of
# dlrn/api/dlrn_api.py (see the comments).
INDEXES = (
    # _get_commit(): commit_hash = ? AND distro_hash = ? (AND status, extended)
    'CREATE INDEX IF NOT EXISTS bench_commits_hashes '
    'ON commits(commit_hash, distro_hash)',
    # repo_status(): civotes WHERE commit_id = ?
    'CREATE INDEX IF NOT EXISTS bench_civotes_commit_id ON civotes(commit_id)',
    # getVote() with job_id: ci_name = ? AND timestamp > ? ORDER BY timestamp DESC
    'CREATE INDEX IF NOT EXISTS bench_civotes_ci_name_ts '
    'ON civotes(ci_name, timestamp)',
    # getVote() without job_id: timestamp > ? ORDER BY timestamp DESC
    'CREATE INDEX IF NOT EXISTS bench_civotes_timestamp ON civotes(timestamp)',
    # promotions_GET(): promotion_name = ? / commit_id = ? ORDER BY id DESC
    'CREATE INDEX IF NOT EXISTS bench_promotions_name '
    'ON promotions(promotion_name)',
    'CREATE INDEX IF NOT EXISTS bench_promotions_commit_id '
    'ON promotions(commit_id)',
    # agg_status(): civotes_agg WHERE ref_hash = ?
    'CREATE INDEX IF NOT EXISTS bench_civotes_agg_ref_hash '
    'ON civotes_agg(ref_hash)',
)


def log(msg):
    print('[dlrn_baseline] %s' % msg, file=sys.stderr, flush=True)


class Fatal(Exception):
    pass


# --- database -----------------------------------------------------------------


def venv_run(venv, code, *args):
    """Run python code in the DLRN venv, return its stdout."""
    py = os.path.join(venv, 'bin', 'python')
    r = subprocess.run([py, '-W', 'ignore', '-c', code] + list(args),
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise Fatal('venv python failed: %s\n%s' % (code[:80], r.stderr[-2000:]))
    return r.stdout


def build_db(path, venv, n_builds, n_votes, seed):
    t_start = time.monotonic()
    tmp = '%s.tmp.%d' % (path, os.getpid())
    for p in (tmp, tmp + '-journal'):
        if os.path.exists(p):
            os.remove(p)
    # DLRN's own schema: getSession() runs Base.metadata.create_all().
    venv_run(venv, 'import sys\nfrom dlrn.db import getSession\n'
             'getSession("sqlite:///" + sys.argv[1])', tmp)
    # Password hash exactly as `dlrn-user create` stores it.
    pwhash = venv_run(venv, 'import sys\nfrom passlib.hash import sha512_crypt\n'
                      'print(sha512_crypt.hash(sys.argv[1]))',
                      BENCH_PASSWORD).strip()

    db = sqlite3.connect(tmp, isolation_level=None)
    try:
        db.execute('PRAGMA journal_mode=OFF')
        db.execute('PRAGMA synchronous=OFF')
        db.execute('PRAGMA cache_size=-200000')
        db.execute('BEGIN')
        db.executemany('INSERT INTO users(username, password) VALUES (?, ?)',
                       [(u, pwhash) for u in dlrn_data.CI_USERS])
        meta = []

        def commits():
            for b in dlrn_data.build_rows(n_builds, seed):
                meta.append((b[8], b[9], b[5]))
                (typ, repo_dir, distgit_dir, artifacts, notes, flags,
                 versions_csv, dt_extended) = dlrn_data.derived_commit_columns(b)
                (bid, ch, dh, eh, project, comp, dtc, dtd, dtb, status,
                 branch) = b
                yield (bid, typ, dtc, dtd, dt_extended, dtb, project, repo_dir,
                       distgit_dir, ch, dh, eh, branch, status, comp, artifacts,
                       notes, flags, versions_csv)
        db.executemany(
            'INSERT INTO commits(id, type, dt_commit, dt_distro, dt_extended, '
            'dt_build, project_name, repo_dir, distgit_dir, commit_hash, '
            'distro_hash, extended_hash, commit_branch, status, component, '
            'artifacts, notes, flags, versions_csv) '
            'VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)', commits())
        log('  %d commits inserted (%.1fs)' % (len(meta), time.monotonic() - t_start))
        db.executemany(
            'INSERT INTO civotes(id, commit_id, ci_name, ci_url, ci_vote, '
            'ci_in_progress, timestamp, notes, user, component) '
            'VALUES (?,?,?,?,?,?,?,?,?,?)',
            dlrn_data.vote_rows(n_builds, n_votes, seed, meta=meta))
        log('  votes inserted (%.1fs)' % (time.monotonic() - t_start))
        db.executemany(
            'INSERT INTO promotions(id, commit_id, promotion_name, timestamp, '
            'user, component, aggregate_hash) VALUES (?,?,?,?,?,?,?)',
            dlrn_data.promotion_rows(n_builds, seed, meta=meta))
        db.execute('COMMIT')
        for stmt in INDEXES:
            db.execute(stmt)
        db.execute('ANALYZE')
        db.execute('PRAGMA journal_mode=DELETE')   # DLRN's default, as served
        counts = {t: db.execute('SELECT count(*) FROM %s' % t).fetchone()[0]
                  for t in ('commits', 'civotes', 'promotions', 'users')}
    finally:
        db.close()
    os.replace(tmp, path)
    log('  built %s in %.1fs: %s' % (path, time.monotonic() - t_start, counts))


def ensure_db(cache_dir, venv, n_builds, n_votes, seed):
    os.makedirs(cache_dir, exist_ok=True)
    name = 'dlrn-v%d-b%d-v%d-s%d.sqlite' % (dlrn_data.GENERATOR_VERSION,
                                            n_builds, n_votes, seed)
    path = os.path.join(cache_dir, name)
    if os.path.exists(path):
        log('using cached database %s' % path)
    else:
        log('building database %s (%d builds, %d votes)' % (path, n_builds, n_votes))
        build_db(path, venv, n_builds, n_votes, seed)
    return path


# --- server -------------------------------------------------------------------


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    def __init__(self, venv, workdir, db_path, kind, workers):
        self.venv, self.workdir, self.kind, self.workers = venv, workdir, kind, workers
        self.port = free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        self.proc = None
        self.repos = os.path.join(workdir, 'repos')
        os.makedirs(self.repos, exist_ok=True)
        self.projects_ini = os.path.join(workdir, 'projects.ini')
        with open(self.projects_ini, 'w') as f:
            f.write('[DEFAULT]\n'
                    'datadir = %s\n'
                    'baseurl = https://trunk.example.org/centos9-master\n'
                    'distro = rpm-master\nsource = master\ntarget = centos9\n'
                    'reponame = delorean\nproject_name = RDO\n'
                    'database_connection = sqlite:///%s\n'
                    'use_components = false\n' % (workdir, db_path))
        self.api_cfg = os.path.join(workdir, 'dlrn_api_config.py')
        with open(self.api_cfg, 'w') as f:
            f.write('DB_PATH = %r\nREPO_PATH = %r\nCONFIG_FILE = %r\n'
                    % ('sqlite:///' + db_path, self.repos, self.projects_ini))
        self.logfile = os.path.join(workdir, 'server.log')

    def start(self):
        env = dict(os.environ, CONFIG_FILE=self.api_cfg)
        if self.kind == 'gunicorn':
            cmd = [os.path.join(self.venv, 'bin', 'gunicorn'),
                   '--workers', str(self.workers), '--worker-class', 'sync',
                   '--bind', '127.0.0.1:%d' % self.port,
                   '--chdir', self.workdir, '--log-level', 'warning',
                   'dlrn.api:app']
        else:
            cmd = [os.path.join(self.venv, 'bin', 'python'), '-W', 'ignore', '-c',
                   'import sys\nfrom dlrn.api import app\n'
                   'app.run(host="127.0.0.1", port=int(sys.argv[1]), '
                   'threaded=True, debug=False)', str(self.port)]
        log('starting %s on %s' % (self.kind, self.url))
        self.logf = open(self.logfile, 'w')
        self.proc = subprocess.Popen(cmd, cwd=self.workdir, env=env,
                                     stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Fatal('server exited with %s:\n%s'
                            % (self.proc.returncode, self.log_tail()))
            try:
                with urllib.request.urlopen(self.url + '/api/health', timeout=5) as r:
                    if r.status == 200:
                        log('server up: %s' % r.read().decode().strip())
                        return
            except (urllib.error.URLError, ConnectionError, socket.timeout):
                pass
            time.sleep(0.2)
        raise Fatal('server did not answer within 90s:\n%s' % self.log_tail())

    def log_tail(self, n=3000):
        try:
            with open(self.logfile) as f:
                return f.read()[-n:]
        except OSError:
            return ''

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = self.proc.pid    # leader of its own session/process group
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=15)
        log('server stopped')


# --- client -------------------------------------------------------------------


class Client:
    def __init__(self, venv, url):
        self.exe = os.path.join(venv, 'bin', 'dlrnapi')
        self.url = url

    def argv(self, op, args, auth=False, password=BENCH_PASSWORD):
        a = [self.exe, '--url', self.url]
        if auth:
            a += ['--username', BENCH_USER, '--password', password]
        return a + [op] + args

    def run(self, argv):
        t0 = time.perf_counter()
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True)
        return (time.perf_counter() - t0) * 1000.0, r


def percentile(sorted_vals, p):
    """Nearest-rank percentile."""
    k = max(1, math.ceil(p / 100.0 * len(sorted_vals)))
    return sorted_vals[k - 1]


class Workload:
    """Arguments of each op, drawn at random (fixed seed) from the data."""

    def __init__(self, db_path, seed):
        db = sqlite3.connect('file:%s?mode=ro' % db_path, uri=True)
        self.builds = db.execute(
            "SELECT commit_hash, distro_hash FROM commits WHERE status='SUCCESS' "
            'ORDER BY id').fetchall()
        self.jobs = [r[0] for r in db.execute(
            "SELECT DISTINCT ci_name FROM civotes WHERE ci_name != 'consistent' "
            'ORDER BY ci_name')]
        self.promoted = db.execute(
            'SELECT c.commit_hash, c.distro_hash FROM promotions p '
            'JOIN commits c ON c.id = p.commit_id ORDER BY p.id DESC LIMIT 1'
        ).fetchone()
        # a build with few votes, so the repo-status sample stays short
        self.small = db.execute(
            "SELECT c.commit_hash, c.distro_hash FROM commits c "
            "WHERE c.status='SUCCESS' AND (SELECT count(*) FROM civotes v "
            "WHERE v.commit_id = c.id) BETWEEN 1 AND 2 ORDER BY c.id DESC LIMIT 1"
        ).fetchone() or self.builds[-1]
        db.close()
        if not self.builds:
            raise Fatal('no SUCCESS build in %s' % db_path)
        self.rng = random.Random('bench-%d' % seed)
        self.counter = 0

    def args(self, op):
        rng = self.rng
        if op == 'repo-status':
            ch, dh = rng.choice(self.builds)
            return ['--commit-hash', ch, '--distro-hash', dh], False
        if op == 'report-result':
            ch, dh = rng.choice(self.builds)
            job = rng.choice(self.jobs) if self.jobs else 'bench-job'
            self.counter += 1
            return ['--job-id', job, '--commit-hash', ch, '--distro-hash', dh,
                    '--info-url', 'https://logs.example.org/%s/bench-%d'
                    % (job, self.counter),
                    '--timestamp', str(int(time.time())), '--success', 'true'], True
        if op == 'promotion-get':
            return ['--promote-name', 'current-tripleo'], False
        if op == 'repo-get':
            job = rng.choice(self.jobs) if self.jobs else 'consistent'
            return ['--max-age', '0', '--job-id', job], False
        raise Fatal('unknown op %s' % op)


def check_output(op, argv, r):
    if r.returncode != 0:
        raise Fatal('%s failed (exit %d): %s\n%s' % (op, r.returncode,
                    ' '.join(argv), r.stderr[-2000:]))
    try:
        json.loads(r.stdout)
    except ValueError:
        raise Fatal('%s printed no JSON: %r' % (op, r.stdout[:500]))


def bench(client, wl, ops, n, warmup):
    results = []
    for op in ops:
        for _ in range(warmup):
            args, auth = wl.args(op)
            argv = client.argv(op, args, auth)
            _, r = client.run(argv)
            check_output(op, argv, r)
        times = []
        for _ in range(n):
            args, auth = wl.args(op)
            argv = client.argv(op, args, auth)
            ms, r = client.run(argv)
            check_output(op, argv, r)
            times.append(ms)
        times.sort()
        res = {'tool': 'dlrnapi', 'op': op,
               'median_ms': round(statistics.median(times), 2),
               'p90_ms': round(percentile(times, 90), 2), 'n': n}
        print(json.dumps(res), flush=True)
        results.append(res)
    return results


def print_samples(client, wl):
    """Run each command once and print its exact output (stdout verbatim)."""
    ch, dh = wl.small
    pch, pdh = wl.promoted if wl.promoted else wl.builds[-1]
    job = wl.jobs[0] if wl.jobs else 'bench-job'
    now = str(int(time.time()))
    samples = [
        ('report-result', ['--job-id', job, '--commit-hash', ch, '--distro-hash', dh,
                           '--info-url', 'https://logs.example.org/%s/sample-1' % job,
                           '--timestamp', now, '--success', 'true'], True),
        ('report-result', ['--job-id', job, '--commit-hash', ch, '--distro-hash', dh,
                           '--info-url', 'https://logs.example.org/%s/sample-2' % job,
                           '--timestamp', now, '--success', 'false',
                           '--notes', 'timed out'], True),
        ('repo-status', ['--commit-hash', ch, '--distro-hash', dh], False),
        ('repo-status', ['--commit-hash', ch, '--distro-hash', dh,
                         '--success', 'false'], False),
        ('promotion-get', ['--promote-name', 'current-tripleo', '--limit', '2'], False),
        ('promotion-get', ['--commit-hash', pch, '--distro-hash', pdh], False),
        ('repo-get', ['--max-age', '0', '--job-id', wl.jobs[-1] if wl.jobs else job],
         False),
        ('repo-get', ['--max-age', '0'], False),
        ('repo-get', ['--max-age', '24', '--success', 'true'], False),
        ('repo-get', ['--max-age', '0', '--sequential-mode',
                      '--previous-job-id', job], False),
        ('repo-use', ['--max-age', '0', '--job-id', job,
                      '--reporting-job-id', 'bench-reporting-job'], True),
        ('repo-promote', ['--commit-hash', ch, '--distro-hash', dh,
                          '--promote-name', 'bench-label'], True),
        ('agg-status', ['--agg-hash', 'deadbeef'], False),
        # error cases
        ('repo-status', ['--commit-hash', '0' * 40, '--distro-hash', '1' * 40], False),
        ('repo-get', ['--max-age', '0', '--sequential-mode',
                      '--previous-job-id', 'no-such-job'], False),
        ('report-result', ['--job-id', job, '--commit-hash', '0' * 40,
                           '--distro-hash', '1' * 40, '--info-url', 'x',
                           '--timestamp', now, '--success', 'true'], True),
        ('repo-promote', ['--commit-hash', ch, '--distro-hash', dh,
                          '--promote-name', 'consistent'], True),
    ]
    for op, args, auth in samples:
        argv = client.argv(op, args, auth)
        _, r = client.run(argv)
        shown = ['dlrnapi'] + argv[1:]
        print('### $ %s   (exit %d)' % (' '.join(shown), r.returncode))
        sys.stdout.write(r.stdout)
        if r.returncode != 0:
            tail = [ln for ln in r.stderr.strip().splitlines()][-4:]
            print('### stderr (last lines):')
            for ln in tail:
                print('    ' + ln)
    # bad password
    argv = client.argv('report-result', samples[0][1], True, password='wrong')
    _, r = client.run(argv)
    print('### $ dlrnapi ... --password wrong report-result ...   (exit %d)'
          % r.returncode)
    sys.stdout.write(r.stdout)
    for ln in r.stderr.strip().splitlines()[-4:]:
        print('    ' + ln)
    sys.stdout.flush()


# --- main ---------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(
        description='dlrnapi client + DLRN API baseline (see module doc)')
    ap.add_argument('--cache-dir', required=True,
                    help='where the built DLRN databases are kept')
    ap.add_argument('--builds', type=int, default=dlrn_data.DEFAULT_BUILDS)
    ap.add_argument('--votes', type=int, default=dlrn_data.DEFAULT_VOTES)
    ap.add_argument('--seed', type=int, default=dlrn_data.DEFAULT_SEED)
    ap.add_argument('--n', type=int, default=50, help='timed invocations per op')
    ap.add_argument('--warmup', type=int, default=2,
                    help='untimed invocations per op first')
    ap.add_argument('--ops', default=','.join(DEFAULT_OPS),
                    help='comma-separated, from %s' % ','.join(ALL_OPS))
    ap.add_argument('--venv', default=os.environ.get('DLRN_VENV', '/tmp/dlrn-venv'))
    ap.add_argument('--server', choices=['gunicorn', 'flask'], default='gunicorn')
    ap.add_argument('--workers', type=int, default=2, help='gunicorn workers')
    ap.add_argument('--print-samples', action='store_true',
                    help="print each dlrnapi command's exact output once")
    ap.add_argument('--samples-only', action='store_true',
                    help='print the samples and skip the timing')
    ap.add_argument('--build-only', action='store_true',
                    help='only build (or find) the cached database')
    ap.add_argument('--keep-workdir', action='store_true')
    a = ap.parse_args(argv)

    ops = [o for o in a.ops.split(',') if o]
    for o in ops:
        if o not in ALL_OPS:
            ap.error('unknown op %s' % o)
    for exe in ('python', 'dlrnapi') + (('gunicorn',) if a.server == 'gunicorn' else ()):
        if not os.access(os.path.join(a.venv, 'bin', exe), os.X_OK):
            raise Fatal('%s/bin/%s missing: run scripts/bench/setup-dlrn.sh %s'
                        % (a.venv, exe, a.venv))

    cached = ensure_db(os.path.abspath(a.cache_dir), a.venv, a.builds, a.votes,
                       a.seed)
    if a.build_only:
        return 0

    workdir = tempfile.mkdtemp(prefix='dlrn-bench-')
    server = None
    try:
        db_path = os.path.join(workdir, 'commits.sqlite')
        shutil.copyfile(cached, db_path)    # runs never change the cache
        server = Server(a.venv, workdir, db_path, a.server, a.workers)
        server.start()
        client = Client(a.venv, server.url)
        wl = Workload(db_path, a.seed)
        log('data: %d builds, %d votes, seed %d; server %s (%s workers); n=%d'
            % (a.builds, a.votes, a.seed, a.server,
               a.workers if a.server == 'gunicorn' else 'threaded', a.n))
        if a.print_samples or a.samples_only:
            print_samples(client, wl)
        if not a.samples_only:
            bench(client, wl, ops, a.n, a.warmup)
    finally:
        if server is not None:
            server.stop()
            if server.proc is not None and server.proc.returncode not in (0, None, -15):
                log('server exit %s; log tail:\n%s'
                    % (server.proc.returncode, server.log_tail()))
        if a.keep_workdir:
            log('workdir kept: %s' % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _on_signal(signum, _frame):
    raise SystemExit(128 + signum)


if __name__ == '__main__':
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    try:
        sys.exit(main())
    except Fatal as e:
        print('dlrn_baseline: error: %s' % e, file=sys.stderr)
        sys.exit(1)
