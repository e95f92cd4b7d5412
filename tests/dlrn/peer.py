#!/usr/bin/env python3
"""The real DLRN 0.26.1 API and the real `dlrnapi` client, for the
differential tests in tests/cli/dlrn_diff.rs.  Run with the python of the
venv that scripts/bench/setup-dlrn.sh makes.

  peer.py load DB --yaml FILE... [--consistent REPO_DIR...]
      creates DB with DLRN's own models (dlrn.db.getSession) and fills it
      from DLRN-format YAML files (a hash directory's commit.yaml, or one
      of DLRN's test samples such as commits_1.yaml), each row through
      DLRN's model classes; for each --consistent hash directory, adds the
      'consistent' vote DLRN's builder records for a consistent repo
      (when a commit loaded has that hash directory).

  peer.py run DB --repos DIR [--baseurl URL] [--use-components] < OPS.json
      serves DLRN's Flask app on 127.0.0.1 (a free port, in a thread of
      this process), then runs each op, a list of `dlrnapi` arguments
      after the global ones, through the client's own entry point
      (dlrnapi_client.shell.main) and prints one JSON object per op:
        {"exit": 0|1, "stdout": "...", "status": HTTP status of a refusal,
         "message": DLRN's refusal message}
      Ops that write authenticate as the user `ciuser`.
"""

import contextlib
import io
import json
import os
import sys
import tempfile
import threading

PASSWORD = 'peer-password'
USER = 'ciuser'


def value(v):
    """A commit.yaml value as DLRN's loader takes it: every value is a
    string, NULL is written None (an unquoted all-digit hash is read by
    YAML as a number: it is a string here too)."""
    if v is None or v == 'None':
        return None
    return str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v


def load(db, yamls, consistent):
    import yaml
    from dlrn.db import CIVote, CIVote_Aggregate, Commit, Promotion, User
    from dlrn.db import getSession
    from passlib.hash import sha512_crypt

    session = getSession('sqlite:///' + db)
    session.add(User(username=USER, password=sha512_crypt.hash(PASSWORD)))
    session.commit()
    kinds = (('commits', Commit), ('civotes', CIVote),
             ('civotes_agg', CIVote_Aggregate), ('promotions', Promotion))
    for path in yamls:
        with open(path) as f:
            data = yaml.safe_load(f)
        for key, model in kinds:
            for row in data.get(key, []):
                row = {k: value(v) for k, v in row.items()}
                if model is Commit and not row.get('type'):
                    row['type'] = 'rpm'
                session.add(model(**row))
        session.commit()
    commits = {c.getshardedcommitdir(): c for c in session.query(Commit).all()}
    for repo_dir in consistent:
        # dlrn/shell.py: the vote the builder adds for a consistent repo (a
        # hash directory of no commit loaded here is left out)
        commit = commits.get(repo_dir)
        if commit is None:
            continue
        session.add(CIVote(commit_id=commit.id, ci_name='consistent',
                           ci_url='', ci_vote=True, ci_in_progress=False,
                           timestamp=int(commit.dt_build), notes='',
                           component=commit.component))
    session.commit()


def run(db, repos, baseurl, use_components, ops):
    work = tempfile.mkdtemp(prefix='dlrn-peer-')
    projects = os.path.join(work, 'projects.ini')
    with open(projects, 'w') as f:
        f.write('[DEFAULT]\ndatadir = %s\nbaseurl = %s\n'
                'distro = rpm-master\nsource = master\ntarget = centos9\n'
                'reponame = delorean\nproject_name = RDO\n'
                'pkginfo_driver = dlrn.drivers.rdoinfo.RdoInfoDriver\n'
                'use_components = %s\n' % (repos, baseurl, str(use_components).lower()))
    api_cfg = os.path.join(work, 'api_config.py')
    with open(api_cfg, 'w') as f:
        f.write('DB_PATH = %r\nREPO_PATH = %r\nCONFIG_FILE = %r\n'
                % ('sqlite:///' + db, repos, projects))
    os.environ['CONFIG_FILE'] = api_cfg
    os.chdir(work)
    import logging
    logging.disable(logging.CRITICAL)
    from dlrn.api import app
    from dlrnapi_client import shell
    from dlrnapi_client.rest import ApiException
    from werkzeug.serving import make_server

    server = make_server('127.0.0.1', 0, app, threaded=True)
    url = 'http://127.0.0.1:%d' % server.server_port
    threading.Thread(target=server.serve_forever, daemon=True).start()
    writes = {'report-result', 'repo-promote', 'repo-promote-batch', 'repo-use'}
    try:
        for op in ops:
            argv = ['dlrnapi', '--url', url]
            if op and op[0] in writes:
                argv += ['--username', USER, '--password', PASSWORD]
            sys.argv = argv + op
            out = io.StringIO()
            result = {'exit': 0, 'stdout': '', 'status': None, 'message': None}
            try:
                with contextlib.redirect_stdout(out):
                    rc = shell.main()
                result['exit'] = rc or 0
            except ApiException as e:
                result['exit'] = 1
                result['status'] = e.status
                try:
                    result['message'] = json.loads(e.body)['message']
                except (ValueError, KeyError, TypeError):
                    result['message'] = str(e.body)
            except Exception as e:  # the client raises plain exceptions too
                result['exit'] = 1
                result['message'] = str(e)
            result['stdout'] = out.getvalue()
            print(json.dumps(result), flush=True)
    finally:
        server.shutdown()


def main():
    args = sys.argv[1:]
    if not args or args[0] not in ('load', 'run'):
        sys.exit(__doc__)
    cmd, db, rest = args[0], args[1], args[2:]
    if cmd == 'load':
        yamls, consistent, dest = [], [], None
        for a in rest:
            if a in ('--yaml', '--consistent'):
                dest = yamls if a == '--yaml' else consistent
            else:
                dest.append(a)
        load(db, yamls, consistent)
    else:
        def opt(name, default=None):
            return rest[rest.index(name) + 1] if name in rest else default
        run(db, opt('--repos'), opt('--baseurl', 'https://trunk.example.org'),
            '--use-components' in rest, json.load(sys.stdin))


if __name__ == '__main__':
    main()
