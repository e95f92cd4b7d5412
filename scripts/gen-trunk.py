#!/usr/bin/env python3
"""Writes DLRN trunk trees in DLRN's real layout.

  gen-trunk.py sample OUT      the bundled sample: the real builds of
                               fixtures/dlrn/commits_1.yaml, replayed in build
                               order as DLRN would have written them
  gen-trunk.py components OUT  a component-mode trunk (DLRN's layout since
                               CentOS 8): the real component builds of
                               fixtures/dlrn/commits_2.yaml and generated/,
                               and baremetal packages of fixtures/dlrn/versions.csv,
                               with per-component links and the aggregates
                               (current/ and consistent/) DLRN writes
  gen-trunk.py synthetic OUT   a large trunk of the same shape, for benchmarks
               [--hashes 20000] [--packages 50] [--seed 1]
  gen-trunk.py pipeline OUT    the quickstart's trunk, as it stands after the
               --upto N         first N builds of a release's history: the real
               --release R      builds of fixtures/dlrn/commits_1.yaml, then
               --start EPOCH    builds of the same projects that go on from there
                                (hashes made from the release and project names;
                                the release's last one has a commit hash that
                                starts with a digit), three hours apart from
                                EPOCH; run again with a larger N, it adds the
                                next builds and moves the links, as DLRN does

Every hash directory is `<ch[0:2]>/<ch[2:4]>/<ch>_<dh[0:8]>[_<eh[0:8]>]` and
holds commit.yaml (DLRN's exact format: all strings, None for NULL),
versions.csv, delorean.repo, repodata/repomd.xml, a build log, the RPMs built
there as real (tiny) files and relative symlinks to the other packages' latest
RPMs. FAILED and RETRY builds get commit.yaml and the build log only. The
builder's `current` and `consistent` links are written at the root.
"""

import argparse
import hashlib
import os
import random
import sys

HEADER = ("Project,Source Repo,Source Sha,Dist Repo,Dist Sha,Status,"
          "Last Success Timestamp,Component,Extended Sha,Pkg NVR\n")
COMMIT_KEYS = ["artifacts", "commit_branch", "commit_hash", "component",
               "distgit_dir", "distro_hash", "dt_build", "dt_commit",
               "dt_distro", "dt_extended", "extended_hash", "flags", "id",
               "notes", "project_name", "repo_dir", "status", "type",
               "versions_csv"]
BASEURL = "https://trunk.rdoproject.org/centos7-master"


def hash_dir(ch, dh, eh, component=None):
    name = "%s_%s" % (ch, dh[:8])
    if eh:
        if len(eh) < 49:
            name += "_" + eh[:8]
        else:
            name += "_%s_%s" % (eh[:8], eh[41:49])
    prefix = "component/%s/" % component if component else ""
    return "%s%s/%s/%s" % (prefix, ch[:2], ch[2:4], name)


def yaml_scalar(v):
    """A value the way PyYAML's safe_dump writes DLRN's strings."""
    if v is None:
        return "None"
    s = str(v)
    if s == "" or s[0] in "!&*-?[]{}|>'\"%@`#,:" or ": " in s or " #" in s \
            or s.replace(".", "", 1).isdigit() or s in ("None", "true", "false") \
            or "\n" in s:
        return "'" + s.replace("'", "''").replace("\n", "\n\n") + "'"
    return s


def write_commit_yaml(path, row):
    lines = ["commits:"]
    for i, k in enumerate(COMMIT_KEYS):
        prefix = "- " if i == 0 else "  "
        lines.append("%s%s: %s" % (prefix, k, yaml_scalar(row.get(k))))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def rpm_names(project, ch, dt_build):
    base = "%s-1.0.0-0.%s.%s.el7" % (project, dt_build, ch[:7])
    return [base + ".noarch.rpm", base + ".src.rpm"]


class Trunk:
    """The trunk of one component (or of the whole repo outside component
    mode); `root` is the trunk root, `base` where its links live."""

    def __init__(self, root, component=None):
        self.root = root
        self.component = component
        self.base = os.path.join(root, "component", component) if component else root
        # project -> dict(last build state)
        self.state = {}
        self.current = None
        self.consistent = None
        self.all_consistent = []

    def build(self, b):
        """Writes the hash directory of build `b` (a dict of DLRN fields)."""
        ch, dh, eh = b["commit_hash"], b["distro_hash"], b.get("extended_hash")
        rel = hash_dir(ch, dh, eh, self.component)
        d = os.path.join(self.root, rel)
        os.makedirs(d, exist_ok=True)
        project = b["project_name"]
        ok = b["status"] == "SUCCESS"
        purged = int(b.get("flags") or 0) & 2
        st = self.state.setdefault(project, {"last_ok": None})
        st["status"] = b["status"]
        rpms = rpm_names(project, ch, b["dt_build"])
        if ok:
            st["last_ok"] = {"rel": rel, "rpms": rpms, "ch": ch, "dh": dh,
                             "eh": eh, "dt": b["dt_build"]}
        row = dict(b)
        row.setdefault("commit_branch", "master")
        row["component"] = self.component
        row["distgit_dir"] = "/home/centos-master/data/%s_distro/" % project
        row["repo_dir"] = "/home/centos-master/data/%s" % project
        row["type"] = "rpm"
        row.setdefault("dt_extended", "0")
        row.setdefault("notes", "OK" if ok else "build failed")
        row["artifacts"] = ",".join("repos/%s/%s" % (rel, r) for r in rpms) \
            if ok else None
        row["versions_csv"] = ("repos/%s/versions.csv" % rel) if ok else None
        write_commit_yaml(os.path.join(d, "commit.yaml"), row)
        with open(os.path.join(d, "rpmbuild.log"), "w") as f:
            f.write("Building %s at %s: %s\n" % (project, ch, b["status"]))
        if not ok or purged:
            return rel
        for r in rpms:
            with open(os.path.join(d, r), "wb") as f:
                f.write(b"\xed\xab\xee\xdb" + ("%s %s\n" % (r, ch)).encode())
        csv = [HEADER]
        for p in sorted(self.state):
            s = self.state[p]
            last = s["last_ok"]
            if last is not None and p != project:
                for r in last["rpms"]:
                    link = os.path.join(d, r)
                    target = os.path.relpath(os.path.join(self.root, last["rel"], r), d)
                    if not os.path.lexists(link):
                        os.symlink(target, link)
            src = last["ch"] if last else "None"
            dist = last["dh"] if last else "None"
            nvr = last["rpms"][0][:-len(".noarch.rpm")] if last else "None"
            csv.append("%s,https://opendev.org/openstack/%s,%s,https://github.com/rdo-packages/%s-distgit.git,%s,%s,%s,%s,%s,%s\n" % (
                p, p, src, p, dist, s["status"],
                last["dt"] if last else "None", self.component or "None",
                (last["eh"] or "None") if last else "None", nvr))
        with open(os.path.join(d, "versions.csv"), "w") as f:
            f.writelines(csv)
        section = "delorean-component-%s" % self.component if self.component else "delorean"
        with open(os.path.join(d, "delorean.repo"), "w") as f:
            f.write("[%s]\nname=delorean-%s-%s\nbaseurl=%s/%s\nenabled=1\ngpgcheck=0\npriority=1\n"
                    % (section, project, ch, BASEURL, rel))
        os.makedirs(os.path.join(d, "repodata"), exist_ok=True)
        with open(os.path.join(d, "repodata", "repomd.xml"), "w") as f:
            f.write('<?xml version="1.0" encoding="UTF-8"?>\n<repomd xmlns="http://linux.duke.edu/metadata/repo">\n'
                    '  <revision>%s</revision>\n</repomd>\n' % b["dt_build"])
        self.current = rel
        if all(s["status"] == "SUCCESS" for s in self.state.values()):
            self.consistent = rel
            self.all_consistent.append(rel)
        return rel

    def finish(self):
        prefix = "component/%s/" % self.component if self.component else ""
        for name, rel in (("current", self.current), ("consistent", self.consistent)):
            if rel is None:
                continue
            swap_link(os.path.join(self.base, name), rel[len(prefix):])


def swap_link(link, target):
    tmp = link + "_"
    if os.path.lexists(tmp):
        os.remove(tmp)
    os.symlink(target, tmp)
    os.rename(tmp, link)


def aggregate(root, dirname, components):
    """DLRN's aggregate_repo_files: the repo files of every component's
    `dirname` link, joined, named by their md5, in a hashed directory."""
    repo, csv = "", []
    for c in sorted(components):
        comp_dir = os.path.join(root, "component", c, dirname)
        if os.path.exists(os.path.join(comp_dir, "delorean.repo")):
            with open(os.path.join(comp_dir, "delorean.repo")) as f:
                repo += f.read() + "\n"
            with open(os.path.join(comp_dir, "versions.csv")) as f:
                csv.extend(f.readlines()[1:])
    md5 = hashlib.md5(repo.encode()).hexdigest()
    target = os.path.join(root, dirname, md5[:2], md5[2:4], md5)
    os.makedirs(target, exist_ok=True)
    with open(os.path.join(target, "delorean.repo"), "w") as f:
        f.write(repo)
    with open(os.path.join(target, "delorean.repo.md5"), "w") as f:
        f.write(md5)
    with open(os.path.join(target, "versions.csv"), "w") as f:
        f.write(HEADER)
        f.writelines(csv)
    base = os.path.join(root, dirname)
    for name in ("delorean.repo", "delorean.repo.md5", "versions.csv"):
        swap_link(os.path.join(base, name), os.path.relpath(os.path.join(target, name), base))
    return md5


def components_trunk(out, commits_file, versions_file):
    """The component builds of the real fixtures, replayed in build order,
    with per-component links and aggregates after each build."""
    rows = [r for r in load_yaml_commits(commits_file) if r.get("component")]
    builds = [dict(r) for r in rows if int(r.get("flags") or 0) == 0]
    # DLRN's own generated hash directory (component mode).
    builds.append({"commit_hash": "ebfb108bf1a19d70aec6c52cdd1952c0e86593fa",
                   "distro_hash": "642db7af784690c3f17d85ff85b0424001c97b82",
                   "project_name": "puppet-apache", "status": "SUCCESS", "flags": "0",
                   "id": "2", "dt_build": "1578665875", "dt_commit": "1576575518",
                   "dt_distro": "1489056308", "component": "tripleo"})
    # Baremetal packages, as the real versions.csv lists them.
    with open(versions_file) as f:
        lines = f.read().splitlines()[1:]
    for i, line in enumerate(lines[:4]):
        p = line.split(",")
        dt = p[6] if p[6] != "None" else "1671133000"
        builds.append({"commit_hash": p[2], "distro_hash": p[4], "project_name": p[0],
                       "status": "SUCCESS", "flags": "0", "id": str(9000 + i),
                       "dt_build": dt, "dt_commit": dt, "dt_distro": dt,
                       "component": p[7]})
    builds.sort(key=lambda b: int(b["dt_build"]))
    trunks = {}
    for b in builds:
        c = b["component"]
        t = trunks.setdefault(c, Trunk(out, c))
        was_consistent = t.consistent
        t.build(b)
        t.finish()
        aggregate(out, "current", trunks)
        if t.consistent != was_consistent:
            aggregate(out, "consistent", trunks)


def load_yaml_commits(path):
    """Reads DLRN's commits fixture without PyYAML (flat `- key: value`)."""
    rows, cur, key = [], None, None
    in_commits = False
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not line.strip():
                continue
            if not line.startswith(" ") and not line.startswith("-"):
                in_commits = line.startswith("commits:")
                continue
            if not in_commits:
                continue
            body = line
            if line.startswith("- "):
                cur = {}
                rows.append(cur)
                body = "  " + line[2:]
            if not body.startswith("  ") or body.startswith("   "):
                continue  # continuation of a multi-line value
            k, _, v = body.strip().partition(":")
            v = v.strip()
            if v.startswith("'") and v.endswith("'") and len(v) > 1:
                v = v[1:-1]
            elif v.startswith('"'):
                v = "build failed"
            cur[k] = v if v not in ("", "None") else None
    return rows


def sample(out, commits_file):
    rows = [r for r in load_yaml_commits(commits_file) if not r.get("component")]
    rows.sort(key=lambda r: int(r["dt_build"]))
    t = Trunk(out)
    for r in rows:
        t.build(r)
    # A purged build, as in commits_2.yaml: its RPMs are gone.
    t.build({"commit_hash": "1c67b1ab8c6fe273d4e175a14f0df5d3cbbd0e77",
             "distro_hash": "8170b8686c38bafb6021d998e2fb268ab26ccf77",
             "project_name": "python-alembic", "status": "SUCCESS",
             "flags": "2", "id": "5656", "dt_build": "1441669027",
             "dt_commit": "1441245154", "dt_distro": "1441668908"})
    # The history goes on past the fixture's last row: python-alembic is
    # fixed, and the next builds are consistent again. These builds are made
    # up (hashes derived from their names) so that the sample has a chain of
    # consistent builds to promote.
    dt = 1444300000
    for project, n in (("python-alembic", 1), ("python-tripleoclient", 2),
                       ("python-pysaml2", 3), ("python-tripleoclient", 4)):
        dt += 3600
        t.build({"commit_hash": sha1("%s commit %d" % (project, n)),
                 "distro_hash": sha1("%s distro %d" % (project, n)),
                 "project_name": project, "status": "SUCCESS", "flags": "0",
                 "id": str(7900 + n), "dt_build": str(dt),
                 "dt_commit": "%d.0" % (dt - 1800), "dt_distro": str(dt - 7200)})
    t.finish()
    return t


def hash_starting(text, digit):
    """sha1 of `text` (salted until its first character is a digit, or a
    letter, as asked): the quickstart's jobs pass or fail by it."""
    salt = 0
    while True:
        h = sha1("%s %d" % (text, salt) if salt else text)
        if h[0].isdigit() == digit:
            return h
        salt += 1


def pipeline_builds(release, start, commits_file):
    """Every build of `release`'s history, in build order, retimed to three
    hours apart from `start`."""
    rows = [r for r in load_yaml_commits(commits_file) if not r.get("component")]
    rows.sort(key=lambda r: int(r["dt_build"]))
    projects = sorted({r["project_name"] for r in rows})
    more = 12 if release == "master" else 8
    builds = [dict(r) for r in rows]
    for n in range(1, more + 1):
        project = projects[n % len(projects)]
        last = n == more and release == "master"
        builds.append({
            "commit_hash": hash_starting("%s %s commit %d" % (release, project, n), last),
            "distro_hash": sha1("%s %s distro %d" % (release, project, n)),
            "project_name": project, "status": "SUCCESS", "flags": "0",
            "id": str(8000 + n)})
    for i, b in enumerate(builds):
        dt = start + i * 3 * 3600
        b["dt_build"] = str(dt)
        b["dt_commit"] = "%d.0" % (dt - 1800)
        b["dt_distro"] = str(dt - 7200)
    return builds


def pipeline(out, upto, release, start, commits_file):
    t = Trunk(out)
    for b in pipeline_builds(release, start, commits_file)[:upto]:
        t.build(b)
    t.finish()


def images(out, trunk_root, rels):
    """An image tree: <full_hash>/ with tiny images and their .md5 sidecars."""
    for rel in rels:
        full = os.path.basename(rel)
        full = "_".join(full.split("_")[:2])
        d = os.path.join(out, full)
        os.makedirs(d, exist_ok=True)
        for name in ("overcloud-full.tar", "ironic-python-agent.tar"):
            data = ("%s for %s\n" % (name, full)).encode()
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
            with open(os.path.join(d, name + ".md5"), "w") as f:
                f.write("%s  %s\n" % (hashlib.md5(data).hexdigest(), name))


def sha1(text):
    return hashlib.sha1(text.encode()).hexdigest()


def synthetic(out, hashes, packages, seed):
    rnd = random.Random(seed)
    projects = ["python-pkg%03d" % i for i in range(packages)]
    t = Trunk(out)
    dt = 1_600_000_000
    for i in range(hashes):
        dt += rnd.randint(60, 900)
        project = projects[i % packages] if i < packages else rnd.choice(projects)
        status = "FAILED" if rnd.random() < 0.03 else "SUCCESS"
        t.build({"commit_hash": "%040x" % rnd.getrandbits(160),
                 "distro_hash": "%040x" % rnd.getrandbits(160),
                 "project_name": project, "status": status, "flags": "0",
                 "id": str(i + 1), "dt_build": str(dt),
                 "dt_commit": "%d.0" % (dt - 600), "dt_distro": str(dt - 900)})
        if (i + 1) % 2000 == 0:
            print("%d/%d hash directories" % (i + 1, hashes), file=sys.stderr)
    t.finish()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("sample")
    s.add_argument("out")
    s.add_argument("--images", help="also write an image tree here")
    s.add_argument("--commits", default=os.path.join(
        os.path.dirname(__file__), "..", "fixtures", "dlrn", "commits_1.yaml"))
    c = sub.add_parser("components")
    c.add_argument("out")
    c.add_argument("--commits", default=os.path.join(
        os.path.dirname(__file__), "..", "fixtures", "dlrn", "commits_2.yaml"))
    c.add_argument("--versions", default=os.path.join(
        os.path.dirname(__file__), "..", "fixtures", "dlrn", "versions.csv"))
    y = sub.add_parser("synthetic")
    y.add_argument("out")
    y.add_argument("--hashes", type=int, default=20000)
    y.add_argument("--packages", type=int, default=50)
    y.add_argument("--seed", type=int, default=1)
    q = sub.add_parser("pipeline")
    q.add_argument("out")
    q.add_argument("--upto", type=int, required=True)
    q.add_argument("--release", default="master")
    q.add_argument("--start", type=int, required=True)
    q.add_argument("--commits", default=os.path.join(
        os.path.dirname(__file__), "..", "fixtures", "dlrn", "commits_1.yaml"))
    a = ap.parse_args()
    if a.mode == "pipeline":
        os.makedirs(a.out, exist_ok=True)
        pipeline(a.out, a.upto, a.release, a.start, a.commits)
        return
    if os.path.exists(a.out) and os.listdir(a.out):
        sys.exit("%s exists and is not empty" % a.out)
    os.makedirs(a.out, exist_ok=True)
    if a.mode == "sample":
        t = sample(a.out, a.commits)
        if a.images:
            images(a.images, a.out, t.all_consistent)
    elif a.mode == "components":
        components_trunk(a.out, a.commits, a.versions)
    else:
        synthetic(a.out, a.hashes, a.packages, a.seed)


if __name__ == "__main__":
    main()
