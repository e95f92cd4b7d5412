#!/usr/bin/env python3
"""Deterministic DLRN-shaped benchmark data: builds, votes, promotions.

The same seed and counts always give the same rows, so the DLRN baseline
loader (dlrn_baseline.py) and promoter's own loader can load exactly the same
data.  Standard library only.

Rows are plain tuples; their layouts are BUILD_FIELDS, VOTE_FIELDS and
PROMOTION_FIELDS below.  Ids are 1-based and dense, so `commit_id` in a vote
or a promotion is the `id` of its build (the row number in build_rows()).

  build_rows(n_builds, seed)                -> iterator of BUILD_FIELDS tuples
  vote_rows(n_builds, n_votes, seed)        -> iterator of VOTE_FIELDS tuples
  promotion_rows(n_builds, seed)            -> iterator of PROMOTION_FIELDS
  derived_commit_columns(build)             -> DLRN-only columns of a build

Shapes (what a real DLRN/RDO database looks like):
  * builds: 40-hex commit_hash and distro_hash, no extended hash, one of
    ~300 package names, each package in one DLRN component, dt_build strictly
    increasing (30 s .. 10 min apart), ~5% FAILED, the rest SUCCESS.
  * votes: timestamps non-decreasing.  ~90% of SUCCESS builds get DLRN's own
    'consistent' vote (ci_url '', user NULL, timestamp = dt_build), exactly as
    DLRN's builder writes it.  The other votes come from 49 CI job ids with
    Zipf-like frequencies, on SUCCESS builds recent at the vote time (a few
    builds back, geometric), success mostly true (75-97% per job), ~0.5% in
    progress (as `repo-use` leaves them: success false, url ''), url
    https://logs.example.org/<job>/<n> with n the job's run counter.
    Only SUCCESS builds get votes (DLRN refuses votes on other builds).
  * promotions: one promotion to 'tripleo-ci-testing' every ~50 builds, with
    about half cascading to 'current-tripleo' and a quarter to
    'current-tripleo-rdo', always of a build that had a vote by then.

CLI: dlrn_data.py {builds,votes,promotions,stats} [--builds N] [--votes M]
[--seed S] [--format tsv|jsonl] [--limit K]; rows go to stdout (TSV: NULL is
written as \\N, booleans as 0/1).
"""

import argparse
import bisect
import json
import random
import sys

GENERATOR_VERSION = 1          # bump when the rows change; caches key on it
DEFAULT_SEED = 20240601
DEFAULT_BUILDS = 100_000
DEFAULT_VOTES = 1_000_000

BASE_TIME = 1_600_000_000      # 2020-09-13; fixed so the data never depends on now

BUILD_FIELDS = ('id', 'commit_hash', 'distro_hash', 'extended_hash',
                'project_name', 'component', 'dt_commit', 'dt_distro',
                'dt_build', 'status', 'commit_branch')
VOTE_FIELDS = ('id', 'commit_id', 'ci_name', 'ci_url', 'ci_vote',
               'ci_in_progress', 'timestamp', 'notes', 'user', 'component')
PROMOTION_FIELDS = ('id', 'commit_id', 'promotion_name', 'timestamp', 'user',
                    'component', 'aggregate_hash')

# --- packages and components ------------------------------------------------

_COMPONENT_STEMS = {
    'baremetal': ['ironic', 'ironic-inspector', 'ironic-python-agent',
                  'ironic-lib', 'sushy', 'bifrost', 'virtualbmc', 'metalsmith'],
    'cinder': ['cinder', 'os-brick', 'castellan', 'cinderlib'],
    'clients': ['openstackclient', 'openstacksdk', 'osc-lib', 'keystoneauth1',
                'os-client-config', 'shade', 'osc-placement'],
    'cloudops': ['aodh', 'ceilometer', 'gnocchi', 'panko', 'collectd-openstack'],
    'common': ['oslo-config', 'oslo-concurrency', 'oslo-db', 'oslo-i18n',
               'oslo-log', 'oslo-messaging', 'oslo-middleware', 'oslo-policy',
               'oslo-serialization', 'oslo-service', 'oslo-utils',
               'oslo-versionedobjects', 'oslo-cache', 'oslo-context',
               'oslo-privsep', 'oslo-rootwrap', 'oslo-upgradecheck',
               'stevedore', 'taskflow', 'tooz', 'futurist', 'pbr', 'cliff',
               'debtcollector', 'automaton', 'os-traits', 'os-resource-classes'],
    'compute': ['nova', 'placement', 'os-vif', 'os-win', 'novnc'],
    'glance': ['glance', 'glance-store'],
    'manila': ['manila', 'manila-ui'],
    'network': ['neutron', 'neutron-lib', 'networking-ovn', 'ovsdbapp',
                'networking-bgpvpn', 'networking-sfc', 'neutron-dynamic-routing',
                'os-ken', 'designate'],
    'octavia': ['octavia', 'octavia-lib', 'octavia-dashboard'],
    'security': ['keystone', 'barbican', 'keystonemiddleware', 'oslo-vmware'],
    'swift': ['swift', 'swift3'],
    'tempest': ['tempest', 'tempest-lib', 'neutron-tempest-plugin',
                'cinder-tempest-plugin', 'octavia-tempest-plugin'],
    'tripleo': ['tripleo-common', 'tripleo-heat-templates', 'tripleoclient',
                'tripleo-ansible', 'tripleo-image-elements', 'os-net-config',
                'heat', 'heat-agents', 'os-apply-config', 'os-refresh-config',
                'validations-common', 'validations-libs', 'tripleo-repos',
                'ansible-pacemaker', 'paunch', 'kolla', 'mistral'],
    'ui': ['horizon', 'heat-dashboard', 'ironic-ui', 'designate-dashboard'],
    'validation': ['tripleo-validations', 'ansible-role-tripleo-modify-image',
                   'ansible-role-chrony', 'ansible-role-atos-hsm'],
}
# Each stem becomes up to 4 packages, the way RDO spreads one project over
# openstack-*, python-*, puppet-* and python-*-tests.
_PREFIXES = (('openstack-', ''), ('python-', ''), ('puppet-', ''),
             ('python-', '-tests'))


def _make_packages():
    pkgs = []
    for comp in sorted(_COMPONENT_STEMS):
        for stem in _COMPONENT_STEMS[comp]:
            for k, (pre, suf) in enumerate(_PREFIXES):
                # not every stem has every flavour: keep it deterministic
                if k >= 2 and (len(stem) + k) % 3 == 0:
                    continue
                pkgs.append((pre + stem + suf, comp))
    return pkgs


PACKAGES = _make_packages()            # [(project_name, component)], ~300

# --- CI jobs ------------------------------------------------------------------


def _make_jobs():
    jobs = []
    fs = ['001', '002', '020', '035', '037', '039', '062', '064']
    for f in fs:
        jobs.append('periodic-tripleo-ci-centos-9-ovb-3ctlr_1comp-featureset%s-master' % f)
    for f in ['010', '016', '017', '018', '019', '030', '037', '039', '043', '050']:
        jobs.append('periodic-tripleo-ci-centos-9-scenario%s-standalone-master' % f[1:])
    for f in ['001', '010', '030', '037', '039']:
        jobs.append('periodic-tripleo-ci-centos-9-multinode-1ctlr-featureset%s-master' % f)
    jobs += [
        'periodic-tripleo-centos-9-buildimage-overcloud-full-master',
        'periodic-tripleo-centos-9-buildimage-ironic-python-agent-master',
        'periodic-tripleo-centos-9-buildimage-overcloud-hardened-uefi-full-master',
        'periodic-tripleo-ci-build-containers-ubi-9-push-master',
        'periodic-tripleo-ci-centos-9-standalone-master',
        'periodic-tripleo-ci-centos-9-standalone-full-tempest-api-master',
        'periodic-tripleo-ci-centos-9-standalone-full-tempest-scenario-master',
        'periodic-tripleo-ci-centos-9-undercloud-containers-master',
        'periodic-tripleo-ci-centos-9-undercloud-upgrade-master',
        'periodic-tripleo-ci-centos-9-containers-undercloud-minion-master',
        'periodic-tripleo-ci-centos-9-standalone-on-multinode-ipa-master',
        'periodic-tripleo-ci-centos-9-content-provider-master',
        'tripleo-ci-promotion-blocker',
        'weirdo-master-promote-packstack-scenario001',
        'weirdo-master-promote-packstack-scenario002',
        'weirdo-master-promote-packstack-scenario003',
        'weirdo-master-promote-puppet-openstack-scenario001',
        'weirdo-master-promote-puppet-openstack-scenario002',
        'weirdo-master-promote-puppet-openstack-scenario003',
        'weirdo-master-promote-puppet-openstack-scenario004',
        'rdo-promote-check-master',
        'dlrn-rpmbuild-tripleo-ci-testing',
        'rdoinfo-validate-master',
        'kolla-build-centos-9-master',
        'packstack-integration-tempest-master',
        'pre-tripleo-ci-testing-sanity',
    ]
    return jobs


CI_JOBS = _make_jobs()                 # 49 CI job ids; 'consistent' is the 50th
JOB_IDS = CI_JOBS + ['consistent']
CI_USERS = ('ciuser', 'rdo-ci', 'review_rdoproject_org')
PROMOTION_NAMES = ('tripleo-ci-testing', 'current-tripleo', 'current-tripleo-rdo')
PROMOTION_USER = 'ciuser'
LOG_BASE = 'https://logs.example.org'


def _hex40(rng):
    return '%040x' % rng.getrandbits(160)


# --- builds -------------------------------------------------------------------


def build_rows(n_builds=DEFAULT_BUILDS, seed=DEFAULT_SEED):
    """Yield BUILD_FIELDS tuples, ids 1..n_builds, dt_build strictly increasing."""
    rng = random.Random('builds-%d' % seed)
    npk = len(PACKAGES)
    # a few packages are much busier than the others (nova, neutron, THT...)
    pkg_weights = [1.0 / (1 + (i * 7919) % npk) ** 0.5 for i in range(npk)]
    cum = []
    acc = 0.0
    for w in pkg_weights:
        acc += w
        cum.append(acc)
    dt_build = BASE_TIME
    seen = set()
    for i in range(1, n_builds + 1):
        dt_build += rng.randint(30, 600)
        p = bisect.bisect_left(cum, rng.random() * acc)
        project, component = PACKAGES[min(p, npk - 1)]
        ch = _hex40(rng)
        dh = _hex40(rng)
        while (ch, dh) in seen:            # practically never; stays deterministic
            ch = _hex40(rng)
        seen.add((ch, dh))
        dt_commit = dt_build - rng.randint(300, 86400)
        dt_distro = dt_build - rng.randint(300, 30 * 86400)
        status = 'FAILED' if rng.random() < 0.05 else 'SUCCESS'
        yield (i, ch, dh, None, project, component, dt_commit, dt_distro,
               dt_build, status, 'master')


def derived_commit_columns(b):
    """The DLRN `commits` columns that depend only on a build row:
    (type, repo_dir, distgit_dir, artifacts, notes, flags, versions_csv,
    dt_extended).  Paths follow DLRN's layout (component/<c>/ab/cd/<ch>_<dh8>)."""
    (_id, ch, dh, _eh, project, comp, _dtc, _dtd, dt_build, status, _br) = b
    hashdir = 'component/%s/%s/%s/%s_%s' % (comp, ch[:2], ch[2:4], ch, dh[:8])
    if status == 'SUCCESS':
        ver = '0.%d.%s' % (dt_build, ch[:7])
        artifacts = ('repos/%s/%s-%s.el9.src.rpm,repos/%s/%s-%s.el9.noarch.rpm'
                     % (hashdir, project, ver, hashdir, project, ver))
        notes = 'OK'
    else:
        artifacts = None
        notes = 'Error in build_rpm_wrapper for %s' % project
    return ('rpm', '/home/dlrn/data/%s' % project,
            '/home/dlrn/data/%s_distro' % project, artifacts, notes, 0,
            'repos/%s/versions.csv' % hashdir, None)


# --- votes --------------------------------------------------------------------


def _build_meta(n_builds, seed):
    """(dt_build, status, component) of every build, in id order."""
    return [(b[8], b[9], b[5]) for b in build_rows(n_builds, seed)]


def vote_rows(n_builds=DEFAULT_BUILDS, n_votes=DEFAULT_VOTES, seed=DEFAULT_SEED,
              meta=None):
    """Yield VOTE_FIELDS tuples, ids 1..n_votes, timestamps non-decreasing.

    `meta` may be the list from _build_meta() to avoid regenerating builds."""
    if meta is None:
        meta = _build_meta(n_builds, seed)
    rng = random.Random('votes-%d' % seed)
    ok = [i for i, m in enumerate(meta) if m[1] == 'SUCCESS']   # 0-based indexes
    if not ok or n_votes <= 0:
        return
    # DLRN's own 'consistent' votes on ~90% of the successful builds, capped so
    # that at least half of the votes are CI votes on tiny runs
    consistent = [rng.random() < 0.9 for _ in ok]
    cap = n_votes // 2
    n_cons = 0
    for k in range(len(consistent)):
        if consistent[k]:
            if n_cons >= cap:
                consistent[k] = False
            else:
                n_cons += 1
    n_ci = n_votes - n_cons

    # job frequencies (Zipf-ish), success rates, users
    njobs = len(CI_JOBS)
    jw = [1.0 / (k + 1) ** 0.7 for k in range(njobs)]
    jcum = []
    acc = 0.0
    for w in jw:
        acc += w
        jcum.append(acc)
    jtotal = acc
    jsucc = [0.75 + 0.22 * ((k * 37) % njobs) / njobs for k in range(njobs)]
    juser = [CI_USERS[k % len(CI_USERS)] for k in range(njobs)]
    jrun = [0] * njobs

    t0 = meta[ok[0]][0]
    t1 = meta[-1][0] + 2 * 3600
    span = max(t1 - t0, 1)

    vid = 0
    ci_emitted = 0
    okpos = 0      # next index into ok[] whose consistent vote is not yet out
    frontier = -1  # index into ok[] of the newest successful build at time ts
    while ci_emitted < n_ci or okpos < len(ok):
        if ci_emitted < n_ci:
            ts = t0 + (ci_emitted * span) // n_ci + 1
        else:
            ts = None
        # consistent votes (timestamp = dt_build) that come first
        if okpos < len(ok) and (ts is None or meta[ok[okpos]][0] <= ts):
            bi = ok[okpos]
            if consistent[okpos]:
                vid += 1
                yield (vid, bi + 1, 'consistent', '', 1, 0, meta[bi][0], '',
                       None, meta[bi][2])
            frontier = okpos
            okpos += 1
            continue
        # one CI vote at ts on a recent successful build
        if frontier < 0:
            frontier = 0
        back = int(rng.expovariate(1.0 / 8.0))
        target = ok[max(frontier - back, 0)]
        j = bisect.bisect_left(jcum, rng.random() * jtotal)
        j = min(j, njobs - 1)
        job = CI_JOBS[j]
        jrun[j] += 1
        if rng.random() < 0.005:
            vote, in_progress, url = 0, 1, ''
        else:
            vote = 1 if rng.random() < jsucc[j] else 0
            in_progress = 0
            url = '%s/%s/%d' % (LOG_BASE, job, jrun[j])
        vid += 1
        ci_emitted += 1
        yield (vid, target + 1, job, url, vote, in_progress, ts, '',
               juser[j], meta[target][2])


# --- promotions ---------------------------------------------------------------


def promotion_rows(n_builds=DEFAULT_BUILDS, seed=DEFAULT_SEED, meta=None):
    """Yield PROMOTION_FIELDS tuples, newest last, timestamps increasing.

    Every ~50 builds the newest successful build is promoted to
    tripleo-ci-testing (timestamp a few hours after its build); about half of
    those go on to current-tripleo and a quarter to current-tripleo-rdo."""
    if meta is None:
        meta = _build_meta(n_builds, seed)
    rng = random.Random('promotions-%d' % seed)
    pid = 0
    last_ts = 0
    i = 0
    n = len(meta)
    while True:
        i += rng.randint(30, 70)
        if i >= n:
            break
        bi = i
        while bi > 0 and meta[bi][1] != 'SUCCESS':
            bi -= 1
        if meta[bi][1] != 'SUCCESS':
            continue
        ts = max(meta[bi][0] + rng.randint(3600, 6 * 3600), last_ts + 1)
        comp = meta[bi][2]
        pid += 1
        yield (pid, bi + 1, PROMOTION_NAMES[0], ts, PROMOTION_USER, comp, None)
        last_ts = ts
        if rng.random() < 0.5:
            ts = last_ts + rng.randint(3600, 12 * 3600)
            pid += 1
            yield (pid, bi + 1, PROMOTION_NAMES[1], ts, PROMOTION_USER, comp, None)
            last_ts = ts
            if rng.random() < 0.5:
                ts = last_ts + rng.randint(3600, 12 * 3600)
                pid += 1
                yield (pid, bi + 1, PROMOTION_NAMES[2], ts, PROMOTION_USER, comp,
                       None)
                last_ts = ts


# --- CLI ----------------------------------------------------------------------


def _tsv(v):
    if v is None:
        return '\\N'
    if isinstance(v, bool):
        return '1' if v else '0'
    return str(v)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('what', choices=['builds', 'votes', 'promotions', 'stats'])
    ap.add_argument('--builds', type=int, default=DEFAULT_BUILDS)
    ap.add_argument('--votes', type=int, default=DEFAULT_VOTES)
    ap.add_argument('--seed', type=int, default=DEFAULT_SEED)
    ap.add_argument('--format', choices=['tsv', 'jsonl'], default='tsv')
    ap.add_argument('--limit', type=int, default=0, help='print only K rows')
    a = ap.parse_args(argv)

    if a.what == 'stats':
        meta = _build_meta(a.builds, a.seed)
        failed = sum(1 for m in meta if m[1] == 'FAILED')
        jobs = {}
        cons = succ = inprog = 0
        last = None
        mono = True
        nv = 0
        for v in vote_rows(a.builds, a.votes, a.seed, meta=meta):
            nv += 1
            jobs[v[2]] = jobs.get(v[2], 0) + 1
            cons += v[2] == 'consistent'
            succ += v[4]
            inprog += v[5]
            if last is not None and v[6] < last:
                mono = False
            last = v[6]
        proms = list(promotion_rows(a.builds, a.seed, meta=meta))
        print(json.dumps({
            'generator_version': GENERATOR_VERSION, 'seed': a.seed,
            'builds': len(meta), 'failed': failed, 'packages': len(PACKAGES),
            'votes': nv, 'job_ids': len(jobs), 'consistent_votes': cons,
            'success_votes': succ, 'in_progress_votes': inprog,
            'vote_timestamps_non_decreasing': mono,
            'promotions': len(proms),
            'dt_build_first': meta[0][0] if meta else None,
            'dt_build_last': meta[-1][0] if meta else None,
            'vote_ts_last': last}, indent=1))
        return 0

    if a.what == 'builds':
        rows, fields = build_rows(a.builds, a.seed), BUILD_FIELDS
    elif a.what == 'votes':
        rows, fields = vote_rows(a.builds, a.votes, a.seed), VOTE_FIELDS
    else:
        rows, fields = promotion_rows(a.builds, a.seed), PROMOTION_FIELDS
    out = sys.stdout
    if a.format == 'tsv':
        out.write('\t'.join(fields) + '\n')
    for k, r in enumerate(rows):
        if a.limit and k >= a.limit:
            break
        if a.format == 'tsv':
            out.write('\t'.join(_tsv(x) for x in r) + '\n')
        else:
            out.write(json.dumps(dict(zip(fields, r))) + '\n')
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except BrokenPipeError:
        sys.exit(0)
